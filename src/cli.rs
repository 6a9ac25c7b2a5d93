//! The command line, as clap definitions. Parsing only: each command turns its arguments
//! into settings and runs in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;

/// Roll out new versions of Kubernetes Deployments without dropping requests.
#[derive(Debug, Parser)]
#[command(name = "rollout", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Disable colour (also NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local lab cluster: a Kubernetes API with controllers and a kubelet on this machine.
    #[command(subcommand)]
    Lab(LabCommand),
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the lab in the foreground and write a kubeconfig for it (Ctrl-C stops it).
    Up(LabUpArgs),
    /// Send steady HTTP load to a URL on this machine and report what answered.
    Load(LabLoadArgs),
    /// Run the stand-in model server (what the lab's kubelet runs for the model-server image).
    #[command(hide = true)]
    ModelServer,
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    /// Where to write the kubeconfig [default: ~/.kube/rollout-lab.yaml]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Port of the API server on 127.0.0.1 [default: a free port]
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Number of nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// Fault injection, e.g. `500=0.1,429=0.05,409=0.05,watch-cut=10,expire=0.2` (rates are fractions of requests; watch-cut is seconds).
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabLoadArgs {
    /// The URL to load (loopback only: 127.0.0.0/8 or localhost).
    pub url: String,
    /// Requests started per second.
    #[arg(long, default_value_t = 10.0)]
    pub rps: f64,
    /// How long to send, e.g. 30s or 2m.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    pub duration: std::time::Duration,
    /// HTTP method (GET or POST).
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body for POST (JSON), or @FILE.
    #[arg(long)]
    pub body: Option<String>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
    /// Output format: human or json.
    #[arg(short = 'o', long = "output", default_value = "human", value_parser = ["human", "json"])]
    pub output: String,
}
