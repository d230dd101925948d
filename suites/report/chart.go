package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/botlog"
)

// Chart geometry, in points. The HTML scales the SVG to the page width.
const (
	chartWidth     = 960
	latencyHeight  = 300
	breakerHeight  = 46
	retriesHeight  = 120
	minLatencyMS   = 0.1 // a log axis needs a floor above 0
	faultLabelSize = 9
)

// Colours of the prompt sources, the breaker states and the fault windows.
var (
	sourceColors = map[string]color.RGBA{
		scenarios.SourceCustom:  {R: 0x2e, G: 0x7d, B: 0x32, A: 0xff},
		scenarios.SourceCached:  {R: 0xef, G: 0x6c, B: 0x00, A: 0xff},
		scenarios.SourceDefault: {R: 0x6a, G: 0x1b, B: 0x9a, A: 0xff},
	}
	noSourceColor = color.RGBA{R: 0x75, G: 0x75, B: 0x75, A: 0xff}
	failedColor   = color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	breakerColors = map[string]color.RGBA{
		botlog.BreakerClosed:   {R: 0xc8, G: 0xe6, B: 0xc9, A: 0xff},
		botlog.BreakerHalfOpen: {R: 0xff, G: 0xe0, B: 0x82, A: 0xff},
		botlog.BreakerOpen:     {R: 0xef, G: 0x9a, B: 0x9a, A: 0xff},
	}
	disabledColor = color.RGBA{R: 0xe0, G: 0xe0, B: 0xe0, A: 0xff}
	// faultColors are translucent so the points stay visible; faults take
	// them in turn.
	faultColors = []color.NRGBA{
		{R: 0xe5, G: 0x39, B: 0x35, A: 0x2e},
		{R: 0x1e, G: 0x88, B: 0xe5, A: 0x2e},
		{R: 0xfb, G: 0x8c, B: 0x00, A: 0x2e},
		{R: 0x8e, G: 0x24, B: 0xaa, A: 0x2e},
	}
	retryColor = color.RGBA{R: 0x37, G: 0x47, B: 0x4f, A: 0xff}
)

// renderChart draws one scenario's three aligned panels (reply latency,
// breaker state, retries per second) over the same x axis, and returns
// the SVG element without the XML prolog, ready to inline in HTML.
func renderChart(sr series, breakerEnabled bool) (string, error) {
	endS := sr.end.Seconds()
	lat, err := latencyPlot(sr, endS)
	if err != nil {
		return "", err
	}
	brk := breakerPlot(sr, breakerEnabled, endS)
	ret, err := retriesPlot(sr, endS)
	if err != nil {
		return "", err
	}

	cv := vgsvg.New(chartWidth, latencyHeight+breakerHeight+retriesHeight)
	dc := draw.New(cv)
	regions := []draw.Canvas{
		draw.Crop(dc, 0, 0, breakerHeight+retriesHeight, 0),
		draw.Crop(dc, 0, 0, retriesHeight, -latencyHeight),
		draw.Crop(dc, 0, 0, 0, -(latencyHeight + breakerHeight)),
	}
	drawAligned([]*plot.Plot{lat, brk, ret}, regions)

	var buf bytes.Buffer
	if _, err := cv.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("render chart: %w", err)
	}
	return stripProlog(buf.String()), nil
}

// drawAligned draws each plot in its region, cropped so that every data
// area starts and ends at the same x: the panels share one time axis.
// (plot.Align does this for equal-height tiles only.)
func drawAligned(ps []*plot.Plot, regions []draw.Canvas) {
	left := make([]vg.Length, len(ps))
	right := make([]vg.Length, len(ps))
	var maxL, maxR vg.Length
	for i, p := range ps {
		d := p.DataCanvas(regions[i])
		left[i], right[i] = d.Min.X-regions[i].Min.X, regions[i].Max.X-d.Max.X
		maxL, maxR = max(maxL, left[i]), max(maxR, right[i])
	}
	for i, p := range ps {
		p.Draw(draw.Crop(regions[i], maxL-left[i], -(maxR - right[i]), 0, 0))
	}
}

// stripProlog drops the XML declaration and vgsvg's generator comment,
// which have no place inside HTML, and the xlink namespace, which the
// charts do not use: the only URL left is the SVG namespace.
func stripProlog(svg string) string {
	if i := strings.Index(svg, "<svg"); i >= 0 {
		svg = svg[i:]
	}
	return strings.Replace(svg, `xmlns:xlink="http://www.w3.org/1999/xlink"`, "", 1)
}

func latencyPlot(sr series, endS float64) (*plot.Plot, error) {
	p := plot.New()
	p.X.Min, p.X.Max = 0, endS
	p.X.Label.Text = "offset (s)"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "reply latency (ms, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())

	lo, hi := math.Inf(1), 0.0
	type group struct {
		label string
		xys   plotter.XYs
		style draw.GlyphStyle
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, pt := range sr.points {
		key, label, style := glyphFor(pt)
		g := byKey[key]
		if g == nil {
			g = &group{label: label, style: style}
			byKey[key] = g
			groups = append(groups, g)
		}
		y := max(ms(pt.latency), minLatencyMS)
		lo, hi = min(lo, y), max(hi, y)
		g.xys = append(g.xys, plotter.XY{X: pt.at.Seconds(), Y: y})
	}
	if len(groups) == 0 {
		lo, hi = 1, 1000
	}
	// Down to the decade below the fastest reply; room above the slowest
	// for the legend and the fault labels.
	p.Y.Min = math.Pow10(int(math.Floor(math.Log10(lo))))
	p.Y.Max = hi * 8
	p.Add(faultShading{faults: sr.faults, end: endS, labels: true})
	for _, g := range legendOrder(groups, func(g *group) string { return g.label }) {
		sc, err := plotter.NewScatter(g.xys)
		if err != nil {
			return nil, fmt.Errorf("latency chart: %w", err)
		}
		sc.GlyphStyle = g.style
		p.Add(sc)
		p.Legend.Add(g.label, sc)
	}
	p.Legend.Top = true
	p.Legend.XOffs = -4 * vg.Millimeter
	p.Legend.TextStyle.Font.Size = 9
	return p, nil
}

// legendOrder sorts groups as custom, cached, default, other, failed, so
// every chart's legend reads the same way.
func legendOrder[G any](gs []G, label func(G) string) []G {
	rank := func(l string) int {
		for i, prefix := range []string{scenarios.SourceCustom, scenarios.SourceCached, scenarios.SourceDefault, "no source", "failed"} {
			if strings.HasPrefix(l, prefix) {
				if strings.Contains(l, "degraded") {
					return 2*i + 1
				}
				return 2 * i
			}
		}
		return 99
	}
	out := slices.Clone(gs)
	slices.SortStableFunc(out, func(a, b G) int { return rank(label(a)) - rank(label(b)) })
	return out
}

// glyphFor styles a point: colour by prompt source, a filled circle for a
// normal reply, a triangle for a degraded one, a red cross for a request
// that failed or timed out.
func glyphFor(pt point) (key, label string, style draw.GlyphStyle) {
	style = draw.GlyphStyle{Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
	if pt.failed {
		style.Color, style.Shape, style.Radius = failedColor, draw.CrossGlyph{}, vg.Points(3.2)
		return "failed", "failed / no reply", style
	}
	c, ok := sourceColors[pt.source]
	label = pt.source
	if !ok {
		c, label = noSourceColor, "no source"
	}
	style.Color = c
	if pt.degraded {
		style.Shape, style.Radius = draw.TriangleGlyph{}, vg.Points(3.4)
		label += " (degraded)"
	}
	return label, label, style
}

func breakerPlot(sr series, enabled bool, endS float64) *plot.Plot {
	p := plot.New()
	p.X.Min, p.X.Max = 0, endS
	p.Y.Min, p.Y.Max = 0, 1
	p.Y.Label.Text = "breaker"
	p.Y.Tick.Marker = plot.ConstantTicks{}
	p.X.Tick.Marker = plot.ConstantTicks{}
	// No fault shading here: it would change the state colours.
	p.Add(breakerBand{spans: sr.breaker, enabled: enabled, seen: sr.seesRetries, end: endS})
	return p
}

func retriesPlot(sr series, endS float64) (*plot.Plot, error) {
	p := plot.New()
	p.X.Min, p.X.Max = 0, endS
	p.X.Label.Text = "offset (s)"
	p.X.Tick.Marker = plainTicks{}
	p.Y.Label.Text = "retries/s"
	p.Y.Tick.Marker = plainTicks{}
	p.Add(plotter.NewGrid())
	p.Add(faultShading{faults: sr.faults, end: endS})
	if !sr.seesRetries {
		// No line at 0: the retries are unknown, not none.
		p.Y.Min, p.Y.Max = 0, 4
		p.Add(greyBand{label: "retries not observable (the target shows no retry log)", end: endS})
		return p, nil
	}
	starts, rates := retryRates(sr.retries, sr.end)
	xys := make(plotter.XYs, 0, len(starts)+1)
	peak := 0.0
	for i := range starts {
		xys = append(xys, plotter.XY{X: starts[i].Seconds(), Y: rates[i]})
		peak = max(peak, rates[i])
	}
	// The last bin's step needs an end point.
	xys = append(xys, plotter.XY{X: endS, Y: rates[len(rates)-1]})
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, fmt.Errorf("retries chart: %w", err)
	}
	l.StepStyle = plotter.PostStep
	l.Color = retryColor
	l.FillColor = color.NRGBA{R: retryColor.R, G: retryColor.G, B: retryColor.B, A: 0x55}
	p.Add(l)
	p.Y.Min, p.Y.Max = 0, max(peak*1.15, 4)
	return p, nil
}

// faultShading shades each measured fault window over the whole height of
// the data area, Jepsen style; with labels, it names the fault at the top.
type faultShading struct {
	faults []scenarios.FaultEvent
	end    float64 // seconds; where a fault that never stopped ends
	labels bool
}

// faultLabel names a fault window in a chart.
func faultLabel(e scenarios.FaultEvent) string {
	l := e.Type + " " + e.Where
	if e.Fault != "" && e.Fault != e.Type {
		l = e.Fault + ": " + l
	}
	switch {
	case e.Err != "" && e.Stop == e.Start:
		l += " (failed to apply)"
	case e.Err != "":
		l += " (error)"
	case e.Stop < e.Start:
		l += " (never stopped)"
	}
	return redact(l)
}

func (f faultShading) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, faultLabelSize),
		Handler: p.TextHandler,
		XAlign:  draw.XLeft,
		YAlign:  draw.YTop,
	}
	rowH := sty.Rectangle("Xg").Size().Y + 1
	colorOf := map[string]color.NRGBA{}
	for i, e := range f.faults {
		col, ok := colorOf[e.Fault]
		if !ok {
			col = faultColors[len(colorOf)%len(faultColors)]
			colorOf[e.Fault] = col
		}
		stop := e.Stop.Seconds()
		if e.Stop < e.Start {
			stop = f.end
		}
		x0, x1 := trX(e.Start.Seconds()), trX(stop)
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		if x1-x0 < 1 { // a fault that failed to apply: a thin line
			x1 = x0 + 1
		}
		c.FillPolygon(col, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if f.labels {
			// Overlapping faults stack their labels.
			c.FillText(sty, vg.Point{X: x0 + 3, Y: c.Max.Y - 3 - vg.Length(i%4)*rowH}, faultLabel(e))
		}
	}
}

// breakerBand paints the breaker state over time, each span labelled when
// it is wide enough for its name.
type breakerBand struct {
	spans   []BreakerSpan
	enabled bool
	seen    bool // the target shows the retry log the states come from
	end     float64
}

func (b breakerBand) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 9),
		Handler: p.TextHandler,
		XAlign:  draw.XCenter,
		YAlign:  draw.YCenter,
	}
	fill := func(x0, x1 vg.Length, col color.Color, label string) {
		c.FillPolygon(col, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
		if sty.Rectangle(label).Size().X+4 < x1-x0 {
			c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (c.Min.Y + c.Max.Y) / 2}, label)
		}
	}
	if !b.enabled {
		fill(trX(0), trX(b.end), disabledColor, "breaker disabled")
		return
	}
	if !b.seen {
		greyBand{label: "breaker not observable (the target shows no retry log)", end: b.end}.Plot(c, p)
		return
	}
	for _, sp := range b.spans {
		x0 := trX(time.Duration(sp.FromMS * float64(time.Millisecond)).Seconds())
		x1 := trX(time.Duration(sp.ToMS * float64(time.Millisecond)).Seconds())
		fill(x0, x1, breakerColors[sp.State], sp.State)
	}
}

// greyBand fills the whole data area grey with a label in its middle: a
// panel whose data the target does not show.
type greyBand struct {
	label string
	end   float64
}

func (g greyBand) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(0), trX(g.end)
	c.FillPolygon(disabledColor, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, 9), Handler: p.TextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (c.Min.Y + c.Max.Y) / 2}, g.label)
}

// plainTicks are plot.DefaultTicks labelled without trailing zeros
// ("25" and "2.5", not "25.00" and "2.50").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}
