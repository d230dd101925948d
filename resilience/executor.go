package resilience

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// OpKind says whether an operation reads or writes.
type OpKind int

const (
	Read OpKind = iota
	Write
)

// Op describes one logical database operation.
type Op struct {
	Name       string // "getCustomPrompt", "setCustomPrompt", ...
	Kind       OpKind
	Idempotent bool // writes: retry even if the statement may have been sent
}

// Result tells how a call went.
type Result struct {
	Attempts int
	Elapsed  time.Duration
}

type options struct {
	observer Observer
	addr     string
}

// Option configures an Executor.
type Option func(*options)

// WithObserver adds an observer.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

// WithAddr sets the host:port used in Error() text.
func WithAddr(hostport string) Option { return func(opts *options) { opts.addr = hostport } }

// Executor runs operations through the policy.
type Executor struct {
	policy Policy
	opts   options
}

// New builds an Executor.
func New(p Policy, opts ...Option) (*Executor, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	x := &Executor{policy: p}
	for _, o := range opts {
		o(&x.opts)
	}
	return x, nil
}

// Policy returns the policy the Executor was built with.
func (x *Executor) Policy() Policy { return x.policy }

// BreakerState is "closed", "open" or "half-open".
func (x *Executor) BreakerState() string { return "closed" }

var errNotImplemented = errors.New("resilience: not implemented yet")

// Do runs fn through the policy.
func (x *Executor) Do(ctx context.Context, op Op, fn func(ctx context.Context) error) (Result, error) {
	// TODO(issue 3)
	return Result{}, errNotImplemented
}

// Query runs fn through the policy and returns its value.
func Query[T any](ctx context.Context, x *Executor, op Op, fn func(ctx context.Context) (T, error)) (T, Result, error) {
	var zero T
	return zero, Result{}, errNotImplemented
}

// TxBeginner is satisfied by *pgxpool.Pool and *pgx.Conn.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Tx runs fn in a transaction begun on db, re-running the whole transaction on 40001/40P01.
func (x *Executor) Tx(ctx context.Context, db TxBeginner, op Op, fn func(ctx context.Context, tx pgx.Tx) error) (Result, error) {
	return Result{}, errNotImplemented
}
