package main

import (
	"context"

	"github.com/p1001/p1001/scenarios"
	"github.com/p1001/p1001/suites/report/bench"
)

// faults plays the outages on the stack.
type faults struct{ t scenarios.Target }

func (f faults) apply(ctx context.Context, o bench.Outage) error { return o.Fault().Apply(ctx, f.t) }

func (f faults) clear(ctx context.Context, o bench.Outage) error { return o.Fault().Undo(ctx, f.t) }
