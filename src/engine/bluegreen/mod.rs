//! Blue-green: cutting a Service over from one Deployment to another by one guarded edit
//! of its selector, and only when that is safe. Pure: the machines (`machine`, `run`) run
//! on the driver loop (`engine::driver`), whose command effects read the cluster, call
//! these, and perform the actions the machines ask for.
//!
//! Preconditions of swapping Service S to Deployment T (`checks`); each failure is a
//! refusal (exit 7, nothing changed) with a reason and a hint:
//!
//! | precondition      | holds when                                                              | refusal              |
//! |-------------------|-------------------------------------------------------------------------|----------------------|
//! | S has a selector  | S selects pods by labels                                                | `no-selector`        |
//! | T runs pods       | `spec.replicas` > 0                                                     | `scaled-to-zero`     |
//! | T rolled out      | observedGeneration >= generation; replicas = updated = ready = available = spec.replicas | `not-rolled-out` |
//! | T's pods ready    | each live pod's Ready condition is True                                 | `not-ready`          |
//! | T's pods stable   | ... since at least `--stable-for` (its lastTransitionTime)              | `not-stable`         |
//! | selector buildable| T's template carries every key of S's selector (new values from it)    | `missing-label`      |
//! | selects all of T  | the new selector selects every live pod of T                            | `misses-target-pods` |
//! | selects only T    | it selects no other pod carrying S's selector keys                      | `selects-others`     |
//! | port served       | each S port's targetPort (number or name) is declared by T's containers | `no-target-port`     |
//!
//! `--rollback` adds: a recorded previous selector and side (`no-record`), and that side
//! running at least its recorded size (`scaled-down`, unless `--scale-up` restores it), and
//! for `--scale-up`, room on the nodes for the pods it adds (`capacity`: `no-capacity`,
//! unless `--force`).
//!
//! The swap (`machine`):
//!
//! | state                 | on                                  | next                                    | action                 |
//! |-----------------------|-------------------------------------|-----------------------------------------|------------------------|
//! | `Checking`            | checks fail                         | `Refused`                               |                        |
//! | `Checking`            | S already selects T                 | `Done(Unchanged)`                       |                        |
//! | `Checking` (dry run)  | checks pass                         | `Done(DryRun)`                          | print plan and diff    |
//! | `Checking`            | checks pass                         | `Swapping`                              | guarded write          |
//! | `Checking`            | a swap to T left `switching`        | `WaitingForEndpoints`                   | watch endpoints        |
//! | `Swapping`            | write accepted                      | `WaitingForEndpoints`                   | watch endpoints        |
//! | `Swapping`            | `test` failed / 409                 | `Failed(Conflict)`                      |                        |
//! | `WaitingForEndpoints` | endpoints = T's ready pods          | `Recording`                             | mark settled, Event    |
//! | `WaitingForEndpoints` | deadline                            | `Failed(EndpointsTimedOut)`             |                        |
//! | `WaitingForEndpoints` | Ctrl-C / SIGTERM                    | `Failed(Interrupted)` (re-run resumes)  |                        |
//! | `Recording`           | recorded                            | `Done(Swapped)`                         |                        |
//!
//! The write (`guard`) tests the resourceVersion and the selector as read and records the
//! previous selector, side and size, time and cause in `rollout.dev/` annotations in the
//! same patch; `endpoints` compares EndpointSlices (or Endpoints) with T's ready pods.
//!
//! The full flow (`--image`, `--env`, `--patch`): `idle` decides the sides (which one
//! serves, which one is idle, the color label, the naming rule) and the idle side before
//! the change; `flow` is its record on the Service (the phase, so a re-run completes what
//! a stopped one left) and the `--keep-old` scale-down decision; `run` is the flow's own
//! machine: its phases (start the idle side, follow, verify, scale a preview, stabilize,
//! swap, keep the old side), stepped by observations, and where a re-run resumes.

pub mod capacity;
pub mod checks;
pub mod endpoints;
pub mod flow;
pub mod guard;
pub mod idle;
pub mod machine;
pub mod matching;
pub mod run;
pub mod selector;
