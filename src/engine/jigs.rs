//! Jigs: how a run does its work.
//! - `noop`: nothing; succeeds.
//! - `test`: sleeps `delay_ms`, fails when told to (or with probability
//!   `flaky`), and reports `test.wall` as its output.
//! - `script`: bash, locally on the admin node (`local = true`) or on the
//!   node over SSH with the system `ssh`. The run's input JSON (node, role,
//!   deployment, merged attributes, parents' wall data, and `data`: those
//!   merged with every ancestor's wall, nearest first) is on stdin and in
//!   the file `$FULCRUM_INPUT_FILE`; the merged attributes (the
//!   operator's, never a node's wall data) are also environment variables
//!   (`FULCRUM_ATTR_<NAME>`). Before a script that runs on the node, the
//!   node is probed (ping, then an SSH login); one that fails gets no run. Output: stdout and stderr become the
//!   run log; the last stdout line, if it is a JSON object, is merged into
//!   the noderole's wall data. Exit status 0 = success. A run over the
//!   role's timeout is killed and fails with that reason.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::model::{Attribs, JigKind, Role};
use crate::inventory::node::Node;
use crate::net::probe;
use crate::net::ssh::{self, SshOptions};
use crate::types::probe::AliveCheck;
use crate::types::report::Report;
use crate::types::time::now;

/// Everything a jig needs, captured when the run was claimed.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) run_id: u64,
    pub(crate) noderole: u64,
    pub(crate) node: String,
    pub(crate) node_ip: Option<String>,
    pub(crate) role: Role,
    pub(crate) input: Value,
    /// The destructive role already ran once: skip the work.
    pub(crate) skip: bool,
    /// The node's record as the claim left it. A different record when
    /// the run completes means the node was written meanwhile (it reported
    /// alive again, say), so a failed probe does not judge it.
    pub(crate) node_as_claimed: Option<Arc<Node>>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) ok: bool,
    pub(crate) wall: Attribs,
    pub(crate) log: String,
    pub(crate) error: Option<String>,
    /// The aliveness probe made before the jig, when one was. When it
    /// failed, the jig did not run (and `ok` is false).
    pub(crate) probe: Option<AliveCheck>,
}

impl Outcome {
    /// Whether the jig never ran because its node failed the probe.
    pub(crate) fn unreachable(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| !p.result.answered())
    }

    fn fail(log: String, error: String) -> Outcome {
        Outcome { ok: false, wall: Attribs::new(), log, error: Some(error), probe: None }
    }
}

/// What jigs may do and how they reach nodes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) ssh: SshOptions,
    /// `engine.allow_local_scripts`: scripts may run on the admin node.
    pub(crate) allow_local_scripts: bool,
    /// `engine.alive_probe`: probe a node before a jig acts on it over
    /// SSH, with this limit on the login (`None`: no probe).
    pub(crate) probe: Option<Duration>,
}

/// Whether the job's jig acts on the node itself (over SSH).
fn acts_on_node(job: &Job) -> bool {
    job.role.jig == JigKind::Script && !job.role.local
}

/// Runs a job's jig to completion (or timeout). Before a jig that acts on
/// the node over SSH, the node is probed (ping, then a login); a node that
/// fails gets no jig, and the outcome says so ([`Outcome::unreachable`]).
/// `started` is set once the jig itself begins: a run stopped before that
/// did nothing on the node. The probe's time is not counted in the role's
/// timeout.
pub(crate) async fn execute(job: &Job, settings: &Settings, started: &AtomicBool) -> Outcome {
    if job.role.jig == JigKind::Script && job.role.local && !settings.allow_local_scripts {
        // A role stored before the setting was turned off, say.
        let why = "scripts on the admin node are off (engine.allow_local_scripts)";
        return Outcome::fail(format!("{why}\n"), why.into());
    }
    let ssh = &settings.ssh;
    if job.skip {
        return Outcome {
            ok: true,
            log: "destructive role already ran once: jig skipped".into(),
            ..Outcome::default()
        };
    }
    let mut probe = None;
    if let (Some(wait), true, Some(ip)) = (settings.probe, acts_on_node(job), job.node_ip.as_deref()) {
        if let Ok(address) = ip.parse::<IpAddr>() {
            let began = now();
            let result = match probe::probe(address, ssh, wait).await {
                Ok(r) => r,
                Err(e) => {
                    let why = format!("cannot probe the node: {}", Report(&e));
                    return Outcome::fail(format!("{why}\n"), why);
                }
            };
            let check = AliveCheck { at: began, address, result };
            if let Some(why) = check.result.why() {
                let log = format!("aliveness probe of {address}: {why}; the node is marked not alive\n");
                return Outcome { probe: Some(check), ..Outcome::fail(log, why) };
            }
            probe = Some(check);
        }
    }
    started.store(true, Ordering::SeqCst);
    let limit = Duration::from_secs(job.role.timeout_seconds);
    let outcome = match tokio::time::timeout(limit, run(job, ssh)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::fail(String::new(), format!("timed out after {} s", job.role.timeout_seconds)),
    };
    Outcome { probe, ..outcome }
}

async fn run(job: &Job, ssh: &SshOptions) -> Outcome {
    match job.role.jig {
        JigKind::Noop => Outcome { ok: true, ..Outcome::default() },
        JigKind::Test => {
            let t = job.role.test.clone().unwrap_or_default();
            if t.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(t.delay_ms)).await;
            }
            let flaked = t.flaky > 0.0 && rand::random::<f64>() < t.flaky;
            if t.fail || flaked {
                let why = if t.fail { "test jig told to fail" } else { "test jig flaked" };
                return Outcome::fail(format!("{why}\n"), why.into());
            }
            Outcome {
                ok: true,
                wall: t.wall,
                log: format!("test jig ok after {} ms\n", t.delay_ms),
                ..Outcome::default()
            }
        }
        JigKind::Script => script(job, ssh).await,
    }
}

fn env_name(attr: &str) -> String {
    let clean: String =
        attr.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("FULCRUM_ATTR_{clean}")
}

fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The environment a script sees.
fn environment(job: &Job) -> Vec<(String, String)> {
    let mut env = vec![
        ("FULCRUM_NODE".to_string(), job.node.clone()),
        ("FULCRUM_NODE_IP".to_string(), job.node_ip.clone().unwrap_or_default()),
        ("FULCRUM_ROLE".to_string(), job.role.name.clone()),
        ("FULCRUM_NODEROLE".to_string(), job.noderole.to_string()),
        ("FULCRUM_RUN".to_string(), job.run_id.to_string()),
    ];
    if let Some(Value::Object(attrs)) = job.input.get("attribs") {
        for (k, v) in attrs {
            env.push((env_name(k), env_value(v)));
        }
    }
    env
}

/// Shell-quotes a value for the SSH wrapper.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

async fn script(job: &Job, ssh_opts: &SshOptions) -> Outcome {
    let script = job.role.script.clone().unwrap_or_default();
    let input = job.input.to_string();
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::fail(String::new(), format!("cannot make a temp dir: {e}")),
    };
    let input_file = dir.path().join("input.json");
    if let Err(e) = std::fs::write(&input_file, &input) {
        return Outcome::fail(String::new(), format!("cannot write input: {e}"));
    }
    let (mut cmd, stdin_data) = if job.role.local {
        let path = dir.path().join("script.sh");
        if let Err(e) = std::fs::write(&path, &script) {
            return Outcome::fail(String::new(), format!("cannot write script: {e}"));
        }
        let mut c = Command::new("bash");
        c.arg(&path).envs(environment(job)).env("FULCRUM_INPUT_FILE", &input_file);
        (c, input.clone())
    } else {
        let Some(ip) = job.node_ip.clone() else {
            return Outcome::fail(String::new(), format!("node `{}` has no address to reach over SSH", job.node));
        };
        // The remote side gets one bash program on stdin: it writes the input
        // to a temp file, exports the environment, and runs the role's script
        // with the input on its stdin.
        let mut wrapper = String::from("set -e\nexport FULCRUM_INPUT_FILE=$(mktemp)\n");
        wrapper.push_str(&format!("cat > \"$FULCRUM_INPUT_FILE\" <<'__FULCRUM_INPUT__'\n{input}\n__FULCRUM_INPUT__\n"));
        for (k, v) in environment(job) {
            wrapper.push_str(&format!("export {k}={}\n", quote(&v)));
        }
        wrapper.push_str(&format!(
            "set +e\nbash /dev/fd/3 < \"$FULCRUM_INPUT_FILE\" 3<<'__FULCRUM_SCRIPT__'\n{script}\n__FULCRUM_SCRIPT__\nrc=$?\nrm -f \"$FULCRUM_INPUT_FILE\"\nexit $rc\n"
        ));
        let mut c = ssh::command(ssh_opts, &ip);
        c.arg("bash -s");
        (c, wrapper)
    };
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::fail(String::new(), format!("cannot start the script: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A script that does not read its input closes the pipe early; fine.
        let _ = stdin.write_all(stdin_data.as_bytes()).await;
    }
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => return Outcome::fail(String::new(), format!("script did not finish: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let log = if stderr.is_empty() { stdout.clone() } else { format!("{stdout}--- stderr ---\n{stderr}") };
    if !out.status.success() {
        return Outcome::fail(log, format!("script exited with {}", out.status));
    }
    let wall = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Attribs>(l.trim()).ok())
        .unwrap_or_default();
    Outcome { ok: true, wall, log, ..Outcome::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(script: &str, local: bool) -> Job {
        let role: Role = toml::from_str(&format!(
            "name = \"r\"\njig = \"script\"\nlocal = {local}\ntimeout_seconds = 2\nscript = '''\n{script}\n'''\n"
        ))
        .unwrap();
        Job {
            run_id: 1,
            noderole: 7,
            node: "n1.x".into(),
            node_ip: Some("127.0.0.1".into()),
            role,
            input: serde_json::json!({"attribs": {"port": 8080, "web-name": "w"}, "parents": []}),
            skip: false,
            node_as_claimed: None,
        }
    }

    #[tokio::test]
    async fn local_script_gets_input_and_reports_wall() {
        let j = job(
            "read -r input; echo \"env $FULCRUM_ATTR_PORT $FULCRUM_ATTR_WEB_NAME $FULCRUM_NODE\"; echo \"$input\" | grep -q '\"port\":8080' || exit 3; echo '{\"address\": \"10.0.0.5\"}'",
            true,
        );
        let out =
            execute(&j, &Settings { allow_local_scripts: true, ..Settings::default() }, &AtomicBool::new(false)).await;
        assert!(out.ok, "{out:?}");
        assert!(out.log.contains("env 8080 w n1.x"), "{}", out.log);
        assert_eq!(out.wall.get("address"), Some(&serde_json::json!("10.0.0.5")));
    }

    #[tokio::test]
    async fn only_jigs_that_act_on_the_node_probe_it() {
        // The probe would fail (nothing answers SSH at this address within
        // the limit), so a probed job could not succeed.
        let settings =
            Settings { allow_local_scripts: true, probe: Some(Duration::from_secs(1)), ..Settings::default() };
        let mut j = job("echo local", true);
        j.node_ip = Some("192.0.2.1".into());
        let started = AtomicBool::new(false);
        let out = execute(&j, &settings, &started).await;
        assert!(out.ok && out.probe.is_none() && started.load(Ordering::SeqCst), "{out:?}");
        for kind in [JigKind::Noop, JigKind::Test] {
            let mut j = j.clone();
            j.role.jig = kind;
            j.role.local = false;
            let out = execute(&j, &settings, &AtomicBool::new(false)).await;
            assert!(out.ok && out.probe.is_none(), "{kind:?}: {out:?}");
        }
        let mut skipped = job("exit 1", false);
        skipped.skip = true;
        let out = execute(&skipped, &settings, &AtomicBool::new(false)).await;
        assert!(out.ok && out.probe.is_none(), "{out:?}");
    }

    #[tokio::test]
    async fn local_scripts_run_only_where_allowed() {
        let out = execute(&job("echo ran", true), &Settings::default(), &AtomicBool::new(false)).await;
        assert!(!out.ok && out.error.as_deref().unwrap_or("").contains("engine.allow_local_scripts"), "{out:?}");
        assert!(!out.log.contains("ran"));
    }

    #[tokio::test]
    async fn failing_and_hanging_scripts_fail_with_reason() {
        let out = execute(
            &job("echo oops >&2; exit 4", true),
            &Settings { allow_local_scripts: true, ..Settings::default() },
            &AtomicBool::new(false),
        )
        .await;
        assert!(!out.ok && out.error.as_deref().unwrap_or("").contains("exit status: 4"), "{out:?}");
        assert!(out.log.contains("oops"));
        let out = execute(
            &job("sleep 30", true),
            &Settings { allow_local_scripts: true, ..Settings::default() },
            &AtomicBool::new(false),
        )
        .await;
        assert_eq!(out.error.as_deref(), Some("timed out after 2 s"));
    }
}
