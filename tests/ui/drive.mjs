// Drives Fulcrum's web UI in headless Chromium (Debian's, through
// playwright-core) for tests/it/web_ui.rs: logs in with a token, walks
// every page, changes a node's bootenv, sees a change made behind its
// back appear without a reload, binds a role to a node, commits and
// watches the annealer converge in the graph. Screenshots go to OUT.
// Fails (exit 1, the reason on stderr) on any console error or page error.
//
//   FULCRUM_URL=https://127.0.0.1:8443 FULCRUM_TOKEN=... NODE=n1.x DEPLOYMENT=d ROLE=web OUT=dir node drive.mjs
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(process.env.PLAYWRIGHT_FROM || import.meta.url);
const { chromium } = require("playwright-core");

const url = process.env.FULCRUM_URL;
const token = process.env.FULCRUM_TOKEN;
const node = process.env.NODE;
const deployment = process.env.DEPLOYMENT;
const role = process.env.ROLE;
const out = process.env.OUT;
const problems = [];
const steps = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const step = (s) => { steps.push(s); console.log(`ui: ${s}`); };
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url || "?"})`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.setDefaultTimeout(15000);
  const shot = (name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
  const auth = { Authorization: `Bearer ${token}` };

  // Log in.
  await page.goto(`${url}/`);
  await page.waitForSelector("#login");
  await shot("login");
  await page.fill("#token", token);
  await page.click("#login button");
  await page.waitForSelector(`a[href="#/node/${encodeURIComponent(node)}"]`);
  await page.waitForSelector("#live.on");
  step("logged in; the nodes page lists the node and the event stream is live");
  await shot("nodes");

  // A change made elsewhere shows up without a reload.
  await page.evaluate(() => { window.notReloaded = true; });
  const patched = await context.request.patch(`${url}/api/v1/nodes/${node}`, { headers: auth, data: { available: false } });
  if (!patched.ok()) throw new Error(`PATCH available: ${patched.status()}`);
  await page.waitForFunction((n) => document.querySelector(`[data-available="${n}"]`)?.textContent === "no", node);
  if (!(await page.evaluate(() => window.notReloaded === true))) throw new Error("the page reloaded");
  step("a change made through the API appeared live");
  await context.request.patch(`${url}/api/v1/nodes/${node}`, { headers: auth, data: { available: true } });

  // The node's page: set its bootenv.
  await page.click(`a[href="#/node/${encodeURIComponent(node)}"]`);
  await page.waitForSelector("#set-bootenv");
  await page.selectOption("#bootenv-pick", "local");
  await page.click("#set-bootenv");
  await page.waitForFunction(() => document.querySelector("#node-bootenv")?.textContent === "local");
  step("set the node's bootenv to local from its page");
  await shot("node");

  // Seed 000: bind a role to the node, commit, watch it converge.
  await page.goto(`${url}/ui/#/deployment/${encodeURIComponent(deployment)}`);
  await page.waitForSelector("#bind");
  await page.selectOption("#role-pick", role);
  await page.check(`.node-pick[value="${node}"]`);
  // A change made elsewhere re-renders the page live: what the operator
  // picked must survive it.
  const renders = await page.evaluate(() => Number(document.body.dataset.renders || 0));
  await page.evaluate(async ([n, t]) => {
    await fetch(`/api/v1/nodes/${encodeURIComponent(n)}`, { method: "PATCH", headers: { Authorization: `Bearer ${t}`, "Content-Type": "application/json" }, body: JSON.stringify({ available: true }) });
  }, [node, token]);
  await page.waitForFunction((r) => Number(document.body.dataset.renders || 0) > r, renders, { timeout: 10000 });
  if ((await page.inputValue("#role-pick")) !== role) throw new Error("a live update undid the role picked");
  if (!(await page.isChecked(`.node-pick[value="${node}"]`))) throw new Error("a live update undid the node picked");
  step("a live re-render kept what was picked");
  await page.click("#bind");
  await page.waitForSelector("#graph g.nr");
  step("bound the role to the node");
  await page.click("#commit");
  await page.waitForSelector(`#graph g.nr.active`, { timeout: 30000 });
  step("committed; the annealer ran it and the graph shows it active");
  await shot("deployment");
  // A role whose first run fails: its box turns red, Retry runs it again.
  await page.selectOption("#role-pick", "once");
  await page.check(`.node-pick[value="${node}"]`);
  await page.click("#bind");
  await page.click("#commit");
  await page.waitForSelector("button.retry", { timeout: 30000 });
  if (!(await page.$("#graph g.nr.error"))) throw new Error("no errored noderole in the graph");
  await shot("deployment-error");
  await page.click("button.retry");
  await page.waitForFunction(() => !document.querySelector("#graph g.nr.error")
    && document.querySelectorAll("#graph g.nr.active").length === 2, null, { timeout: 30000 });
  step("a failed noderole was retried from its row and went active");

  // Every other page loads.
  for (const [hash, sel, name] of [["#/networks", "table", "networks"], ["#/bootenvs", "table", "bootenvs"],
    ["#/deployments", "table", "deployments"], ["#/runs", "table", "runs"], ["#/events", "table", "events"]]) {
    await page.goto(`${url}/ui/${hash}`);
    await page.waitForFunction((v) => document.body.dataset.view === v, hash.slice(2));
    await page.waitForSelector(sel);
    await shot(name);
  }
  const runLink = await page.goto(`${url}/ui/#/runs`).then(() => page.waitForSelector("td a[href^='#/runs/']"));
  await runLink.click();
  await page.waitForSelector("#run-log");
  await shot("run");
  step("networks, bootenvs, deployments, runs (with a run's log) and events load");
  await context.close();
} catch (e) {
  problems.push(`step failed after [${steps.join("; ")}]: ${e.message}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("ui: all good");
