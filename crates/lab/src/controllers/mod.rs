//! The in-lab controllers. Each acts only through the registry, like a real controller
//! acting through the API server, so each change it makes is a watch event.

pub mod deployment;
pub mod disruption;
pub mod endpoint_selection;
pub mod endpoints;
pub mod endpointslices;
pub mod events;
pub mod gc;
pub mod hpa;
pub mod nodes;
pub mod replicaset;
pub mod runtime;
pub mod scheduler;
pub mod serviceaccounts;
pub mod taint_eviction;
pub mod trigger_time;

use tokio_util::sync::CancellationToken;

use crate::registry::Registry;

/// Starts the garbage collector and the ServiceAccount controller and, with `workloads`,
/// every other controller; they stop
/// when `cancel` fires.
pub fn spawn_all(registry: &Registry, cancel: &CancellationToken, workloads: bool) {
    tokio::spawn(gc::run(registry.clone(), cancel.clone()));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        serviceaccounts::ServiceAccountsController,
    ));
    if !workloads {
        return;
    }
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        deployment::DeploymentController,
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        replicaset::ReplicaSetController::default(),
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        scheduler::Scheduler::default(),
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        taint_eviction::TaintEviction::default(),
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        endpoints::EndpointsController::default(),
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        endpointslices::EndpointSliceController::default(),
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        disruption::DisruptionController,
    ));
    tokio::spawn(runtime::run(
        registry.clone(),
        cancel.clone(),
        hpa::HpaController,
    ));
}
