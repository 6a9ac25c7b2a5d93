//! StatefulSet, DaemonSet, ReplicationController, Job and CronJob rows (upstream
//! printStatefulSet, printDaemonSet, printReplicationController, printJob and printCronJob
//! of v1.33). The lab runs no controller for these kinds, so their status columns show what
//! a client wrote to `/status`, zero otherwise.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::json::{arr_at, at, i64_at, str_at};
use super::workloads::{containers, selector_string};
use super::{age, age_col, col, format_labels, human_duration, name_col, since};

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";

fn template_cols(selector: Option<&str>) -> Vec<Value> {
    let mut cols = vec![
        col("Containers", "string", 1, CONTAINERS),
        col("Images", "string", 1, IMAGES),
    ];
    if let Some(description) = selector {
        cols.push(col("Selector", "string", 1, description));
    }
    cols
}

pub fn columns(resource: &str) -> Vec<Value> {
    let selector = "A label query over pods that should match the pod count.";
    let mut cols = match resource {
        "statefulsets" => vec![
            name_col(),
            col("Ready", "string", 0, "Number of the pod with ready state"),
            age_col(),
        ],
        "daemonsets" => vec![
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
            ),
            col(
                "Current",
                "integer",
                0,
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
            ),
            col(
                "Up-to-date",
                "integer",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            col(
                "Available",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
            ),
            col(
                "Node Selector",
                "string",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            age_col(),
        ],
        "replicationcontrollers" => vec![
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas.",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replication controller.",
            ),
            age_col(),
        ],
        "jobs" => vec![
            name_col(),
            col("Status", "string", 0, "Status of the job."),
            col(
                "Completions",
                "string",
                0,
                "The completion status of the job.",
            ),
            col(
                "Duration",
                "string",
                0,
                "Time required to complete the job.",
            ),
            age_col(),
        ],
        _ => vec![
            name_col(),
            col(
                "Schedule",
                "string",
                0,
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            col(
                "Timezone",
                "string",
                0,
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
            ),
            col(
                "Suspend",
                "boolean",
                0,
                "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
            ),
            col(
                "Active",
                "integer",
                0,
                "A list of pointers to currently running jobs.",
            ),
            col(
                "Last Schedule",
                "string",
                0,
                "Information when was the last time the job was successfully scheduled.",
            ),
            age_col(),
        ],
    };
    let with_selector = resource != "statefulsets";
    cols.extend(template_cols(with_selector.then_some(selector)));
    cols
}

pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(str_at(obj, &["metadata", "name"]));
    let status = |key: &str| i64_at(obj, &["status", key]).unwrap_or(0);
    let template = if resource == "cronjobs" {
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ][..]
    } else {
        &["spec", "template", "spec", "containers"][..]
    };
    let (names, images) = containers(arr_at(obj, template));
    let label_selector = || {
        let path = if resource == "cronjobs" {
            &["spec", "jobTemplate", "spec", "selector"][..]
        } else {
            &["spec", "selector"][..]
        };
        match at(obj, path).filter(|s| !s.is_null()).map(selector_string) {
            Some(s) if !s.is_empty() => s,
            _ => "<none>".to_string(),
        }
    };
    let age = json!(age(obj, now));
    match resource {
        "statefulsets" => {
            let desired = i64_at(obj, &["spec", "replicas"]).unwrap_or(0);
            let ready = format!("{}/{desired}", status("readyReplicas"));
            vec![name, json!(ready), age, json!(names), json!(images)]
        }
        "daemonsets" => vec![
            name,
            json!(status("desiredNumberScheduled")),
            json!(status("currentNumberScheduled")),
            json!(status("numberReady")),
            json!(status("updatedNumberScheduled")),
            json!(status("numberAvailable")),
            json!(format_labels(at(
                obj,
                &["spec", "template", "spec", "nodeSelector"]
            ))),
            age,
            json!(names),
            json!(images),
            json!(label_selector()),
        ],
        "replicationcontrollers" => {
            // A map selector, printed as labels are.
            let selector = format_labels(at(obj, &["spec", "selector"]));
            vec![
                name,
                json!(i64_at(obj, &["spec", "replicas"]).unwrap_or(0)),
                json!(status("replicas")),
                json!(status("readyReplicas")),
                age,
                json!(names),
                json!(images),
                json!(selector),
            ]
        }
        "jobs" => vec![
            name,
            json!(job_status(obj)),
            json!(completions(obj)),
            json!(job_duration(obj, now)),
            age,
            json!(names),
            json!(images),
            json!(label_selector()),
        ],
        _ => {
            let zone = match str_at(obj, &["spec", "timeZone"]) {
                "" => "<none>",
                z => z,
            };
            let suspend = match at(obj, &["spec", "suspend"]).and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            let last = if str_at(obj, &["status", "lastScheduleTime"]).is_empty() {
                "<none>".to_string()
            } else {
                since(obj, &["status", "lastScheduleTime"], now)
            };
            vec![
                name,
                json!(str_at(obj, &["spec", "schedule"])),
                json!(zone),
                json!(suspend),
                json!(arr_at(obj, &["status", "active"]).len()),
                json!(last),
                age,
                json!(names),
                json!(images),
                json!(label_selector()),
            ]
        }
    }
}

fn has_condition(job: &Value, kind: &str) -> bool {
    arr_at(job, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == kind && str_at(c, &["status"]) == "True")
}

/// printJob's STATUS: the first of its terminal and paused conditions that holds.
fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if !str_at(job, &["metadata", "deletionTimestamp"]).is_empty() {
        "Terminating"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// `succeeded/completions`, or for a work queue `succeeded/1 of parallelism`.
fn completions(job: &Value) -> String {
    let succeeded = i64_at(job, &["status", "succeeded"]).unwrap_or(0);
    if let Some(n) = i64_at(job, &["spec", "completions"]) {
        return format!("{succeeded}/{n}");
    }
    match i64_at(job, &["spec", "parallelism"]).unwrap_or(0) {
        p if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    }
}

/// From the start to completion, or to now while running; empty before it starts.
fn job_duration(job: &Value, now: Timestamp) -> String {
    let time = |key: &str| str_at(job, &["status", key]).parse::<Timestamp>().ok();
    match (time("startTime"), time("completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.as_second() - start.as_second()),
        (Some(start), Some(done)) => human_duration(done.as_second() - start.as_second()),
    }
}
