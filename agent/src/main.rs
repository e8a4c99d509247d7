//! `fulcrum-agent`: the program the discovery image runs (OpenCrowbar's
//! Sledgehammer, Ironic's IPA). It registers the machine with every MAC
//! it has, reports the hardware it finds, and then asks Fulcrum, with the
//! node's token, what to do next: report again, erase its disks, write
//! an image to one, reboot, power off, or wait. It knows nothing of the machine's state; Fulcrum decides, from
//! the node's provision state, on each request.
//!
//! Its settings come from the kernel command line the discovery bootenv
//! writes (`fulcrum.api=`, `fulcrum.mac=`, `fulcrum.lldp=`,
//! `fulcrum.poll=`), or from the same words as arguments, for a run
//! outside the image.

mod actions;
mod api;
mod inventory;
mod lldp;
mod qcow2;
mod settings;
mod sysfs;

use std::process::ExitCode;
use std::time::Duration;

use actions::{Action, Prepared};
use api::{Api, ApiError};
use settings::Settings;

/// Prints one line on the console (the image's init sends it to the
/// serial port), where an operator watching the machine reads it. A
/// console that has gone away (a closed pipe) loses the line; it never
/// stops the agent, as `println!` would.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "fulcrum-agent: {}", format_args!($($arg)*));
    }};
}
pub(crate) use say;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words = if args.is_empty() {
        match std::fs::read_to_string("/proc/cmdline") {
            Ok(c) => c.split_whitespace().map(str::to_string).collect(),
            Err(e) => {
                say!("FAILED: cannot read /proc/cmdline: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        args
    };
    let settings = match Settings::from_words(&words) {
        Ok(s) => s,
        Err(e) => {
            say!("FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!("version {} api {} booted from {}", env!("CARGO_PKG_VERSION"), settings.api, settings.mac);
    run(&settings)
}

/// Registers, reports, then follows Fulcrum's commands until one ends the
/// machine's run (reboot, power off) or `fulcrum.once` asked for one
/// report only.
fn run(settings: &Settings) -> ExitCode {
    let root = std::path::Path::new(&settings.root);
    let api = Api::new(&settings.api);
    let macs = inventory::macs(root);
    let mut node = register(&api, settings, &macs);
    if let Err(e) = report(&api, &mut node, settings, &macs) {
        // Fulcrum will ask again (an inspect step) if it wants one.
        say!("{e}");
    }
    if settings.once {
        return ExitCode::SUCCESS;
    }
    // Steps carried out and reported in this registration: the same
    // command again is not redone. A registration forgets them: ids carry
    // the node's step number, which begins again on a node made anew.
    let mut done = Done::new(&node);
    loop {
        let next = match api.next(&node) {
            Ok(n) => n,
            Err(e) if e.lost_node() => {
                say!("Fulcrum no longer knows this node or its token ({e}): registering again");
                std::thread::sleep(settings.poll);
                node = register(&api, settings, &macs);
                continue;
            }
            Err(e) => {
                say!("asking for the next step failed: {e}");
                std::thread::sleep(settings.poll);
                continue;
            }
        };
        let wait = if settings.poll_set { settings.poll } else { next.poll.unwrap_or(settings.poll) };
        done.since(&node);
        let Some(command) = next.command.filter(|c| !done.ids.contains(&c.id)) else {
            std::thread::sleep(wait);
            continue;
        };
        match &command.action {
            Ok(a) => say!("step {}: {a}", command.id),
            Err(e) => say!("step {}: {e}", command.id),
        }
        // Root's rescue login is open here: the step waits for a fresh
        // agent (the machine network-boots it), unreported.
        if actions::needs_fresh_agent(root, &command.action) {
            say!("step {}: this is the rescue system; rebooting into a fresh agent first", command.id);
            if let Err(e) = actions::power(actions::Power::Reboot) {
                say!("FAILED: rebooting: {e}");
                std::thread::sleep(wait);
            }
            continue;
        }
        let outcome = match &command.action {
            Ok(Action::Inspect) => report(&api, &mut node, settings, &macs).map(Prepared::Done),
            Ok(Action::WriteImage { url, sha256, format }) => {
                write_image(&api, root, url, sha256, *format).map(Prepared::Done)
            }
            other => actions::prepare(root, other),
        };
        let (ok, detail) = match &outcome {
            Ok(Prepared::Done(detail)) => (true, detail.clone()),
            Ok(Prepared::Power(p)) => (true, p.to_string()),
            Err(e) => (false, e.clone()),
        };
        say!("step {} {}: {detail}", command.id, if ok { "done" } else { "FAILED" });
        // The report goes first: after a reboot nobody is left to send it.
        // A machine goes down only when Fulcrum has taken the report: a
        // refused one means the step is over (an operator aborted it, the
        // node moved on), so the agent asks again instead.
        if !deliver(&api, &node, &command.id, ok, &detail) {
            continue;
        }
        if ok {
            done.ids.insert(command.id.clone());
        }
        if let Ok(Prepared::Power(p)) = outcome {
            if let Err(e) = actions::power(p) {
                // Not allowed here (outside the image, say): ask again
                // later rather than at once.
                say!("FAILED: {p}: {e}");
                std::thread::sleep(settings.poll);
            }
        }
    }
}

/// The ids of the steps carried out in one registration.
struct Done {
    /// The registration they were carried out in.
    registration: api::Node,
    ids: std::collections::HashSet<String>,
}

impl Done {
    fn new(node: &api::Node) -> Done {
        Done { registration: node.clone(), ids: Default::default() }
    }

    /// Forgets them when `node` is another registration.
    fn since(&mut self, node: &api::Node) {
        if !self.registration.same_registration(node) {
            *self = Done::new(node);
        }
    }
}

/// Fetches the image and writes it, three times at most: a download cut
/// short (a DHCP renewal that moves the machine to its own address drops
/// its connections) is started again, and writing it again is harmless.
fn write_image(
    api: &Api,
    root: &std::path::Path,
    url: &str,
    sha256: &str,
    format: actions::ImageFormat,
) -> Result<String, String> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    let fetch = || api.fetch(url).map_err(|e| format!("fetching {url}: {e}"));
    loop {
        let result = match format {
            actions::ImageFormat::Raw => fetch().and_then(|(body, len)| actions::write_image(root, body, len, sha256)),
            // The tables first, by byte range; then the whole file.
            actions::ImageFormat::Qcow2 => qcow2::Layout::read(actions::largest_disk(root), |at, n| {
                api.fetch_range(url, at, n)
                    .map_err(|e| format!("fetching bytes {at}-{} of {url}: {e}", at + n as u64 - 1))
            })
            .and_then(|layout| fetch().map(|got| (layout, got)))
            .and_then(|(layout, (body, len))| actions::write_qcow2(root, &layout, body, len, sha256)),
        };
        match result {
            Err(e) if attempt < ATTEMPTS => {
                say!("writing the image failed ({attempt}/{ATTEMPTS}): {e}; again in 2s");
                std::thread::sleep(Duration::from_secs(2));
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Reports how step `id` went, trying again while Fulcrum cannot be
/// reached (about 20 s); whether Fulcrum took the report.
fn deliver(api: &Api, node: &api::Node, id: &str, ok: bool, detail: &str) -> bool {
    const ATTEMPTS: u32 = 10;
    for attempt in 1..=ATTEMPTS {
        match api.done(node, id, ok, detail) {
            Ok(()) => return true,
            // Refused: asking again gets the same answer.
            Err(e @ ApiError::Refused { .. }) => {
                say!("report on step {id} refused: {e}");
                return false;
            }
            Err(e) => {
                say!("reporting step {id} failed ({attempt}/{ATTEMPTS}): {e}");
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    false
}

/// Gathers the inventory (listening for LLDP meanwhile) and reports it;
/// its summary once Fulcrum takes it. It tries again while Fulcrum cannot
/// be reached and registers again when the node is gone or its token
/// refused; a report Fulcrum refuses outright is an error, not a loop.
fn report(api: &Api, node: &mut api::Node, settings: &Settings, macs: &[String]) -> Result<String, String> {
    let root = std::path::Path::new(&settings.root);
    // LLDP frames come every 30 s by default: listen while the rest is
    // gathered.
    let neighbours = lldp::listen(root, &inventory::nic_names(root), settings.lldp_wait);
    let mut report = inventory::collect(root, &settings.mac);
    report.set_lldp(neighbours.wait());
    // Registering again is bounded: a node refused after each new
    // registration is a server problem no retry mends.
    let mut registrations = 0;
    loop {
        match api.report_inventory(node, &report) {
            Ok(()) => {
                let summary = format!("inventory reported: {}", report.summary());
                say!("{summary}");
                return Ok(summary);
            }
            Err(e) if e.lost_node() && registrations < 3 => {
                registrations += 1;
                *node = register(api, settings, macs);
            }
            Err(e @ ApiError::Refused { .. }) => return Err(format!("the inventory report was refused: {e}")),
            Err(e) => {
                say!("inventory report failed: {e}; again in {}s", settings.poll.as_secs());
                std::thread::sleep(settings.poll);
            }
        }
    }
}

/// Registers the machine until Fulcrum answers.
fn register(api: &Api, settings: &Settings, macs: &[String]) -> api::Node {
    loop {
        match api.discover(&settings.mac, macs) {
            Ok(node) => {
                say!("registered as {} ({})", node.name, if node.created { "new" } else { "known" });
                return node;
            }
            Err(e) => {
                say!("registration failed: {e}; again in {}s", settings.poll.as_secs());
                std::thread::sleep(settings.poll);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_forgets_the_steps_done_before_it() {
        let first = api::Node::registered("n1.example", "t1");
        let mut done = Done::new(&first);
        done.ids.insert("erase-2".into());
        done.since(&first);
        assert!(done.ids.contains("erase-2"), "the same registration forgot its steps");
        // The node made anew numbers its steps from the start again.
        done.since(&api::Node::registered("n1.example", "t2"));
        assert!(done.ids.is_empty(), "a new registration skips `erase-2`");
    }
}
