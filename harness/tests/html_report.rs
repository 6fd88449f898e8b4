//! `certify --html`: the page is opened in headless Chromium (Debian's `chromium`, driven
//! through `chromedriver` over WebDriver) and judged as rendered: the verdict banner's color,
//! every matrix cell's computed color against its verdict, a failure's `<details>` closed at
//! first and showing its evidence (case, step, environment, request, output) once its summary
//! is clicked, a state comparison's differences line by line, the plugin's identity (SHA-256 as
//! `sha256sum` computes it, the VERSION answer), that nothing was fetched, and that hostile
//! plugin output stays text. The plugins are `cni-mutant` wrappers of Debian's host-local and
//! ptp (`examples/cni-mutant.rs`), and a shell script printing markup.
//!
//! Needs root (certification makes namespaces), Debian's containernetworking-plugins in
//! /usr/lib/cni, and `chromium` with `chromium-driver` (scripts/setup.sh installs them all). A
//! missing browser fails the test and says so: it never passes without rendering.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const REAL_DIR: &str = "/usr/lib/cni";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The page's verdict colors (`--pass`, `--fail`, `--warn`, `--info`, `--none`), computed.
fn color(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "rgb(87, 171, 90)",
        "fail" => "rgb(209, 53, 43)",
        "warn" => "rgb(242, 204, 96)",
        "info" => "rgb(143, 184, 222)",
        "none" => "rgb(238, 238, 238)",
        other => panic!("no color for verdict {other:?}"),
    }
}

fn require_tools() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "chromium is needed to render the HTML report and {path} is missing: run \
             scripts/setup.sh (installs {package})"
        );
    }
    for plugin in ["host-local", "ptp"] {
        assert!(
            Path::new(REAL_DIR).join(plugin).is_file(),
            "{REAL_DIR}/{plugin} is missing: run scripts/setup.sh (installs \
             containernetworking-plugins)"
        );
    }
}

/// The built `cni-mutant` example.
fn mutant_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| support::build_example("cni-mutant"))
}

/// Certifies `plugin` with `conformance-cases/configs/<config>` and `args`, requires exit
/// status `expected`, and returns the HTML page's path.
/// Certifies the `mutation` of the mutant plugin with `config`, only the cases of `filter`,
/// expecting exit status `expected`, and opens the HTML report in a browser. The temporary
/// directory holds the plugin and the report: bind it first, so that it outlives the page.
fn open_report(
    mutation: &str,
    config: &str,
    filter: &str,
    expected: i32,
) -> (tempfile::TempDir, PathBuf, Browser) {
    require_tools();
    let dir = tempfile::Builder::new()
        .prefix("cnirs-html-")
        .tempdir()
        .unwrap();
    let plugin = mutant(dir.path(), mutation);
    let html = certify_html(dir.path(), &plugin, config, &["--filter", filter], expected);
    let page = Browser::start();
    page.open(&html);
    (dir, plugin, page)
}

fn certify_html(dir: &Path, plugin: &Path, config: &str, args: &[&str], expected: i32) -> PathBuf {
    let html = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .arg("certify")
        .arg("--plugin")
        .arg(plugin)
        .arg("--config")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../conformance-cases/configs")
                .join(config),
        )
        .args(["--cni-path", REAL_DIR, "--jobs", "2"])
        .args(args)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run cni-conformance");
    let status = out.status.code().unwrap_or(-1);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(html.is_file(), "no HTML report (exit {status}):\n{printed}");
    assert_eq!(
        status,
        expected,
        "certify of {}:\n{printed}",
        plugin.display()
    );
    html
}

fn mutant(dir: &Path, spec: &str) -> PathBuf {
    let plugin = dir.join(format!("mutant-{spec}"));
    std::os::unix::fs::symlink(mutant_binary(), &plugin).unwrap();
    plugin
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// Every matrix cell's verdict class must be rendered in that verdict's color.
fn assert_cells_colored(page: &Browser) -> Vec<(String, String, String)> {
    let cells = page.script(
        "return Array.from(document.querySelectorAll('#matrix td.cell')).map(function (c) { \
         return [c.parentElement.dataset.req, c.dataset.version, c.dataset.verdict, \
         getComputedStyle(c).backgroundColor]; });",
    );
    let cells = cells.as_array().expect("cells").clone();
    assert!(!cells.is_empty(), "the matrix has no cells");
    cells
        .into_iter()
        .map(|c| {
            let f = |i: usize| c[i].as_str().expect("string").to_string();
            let (req, version, verdict, bg) = (f(0), f(1), f(2), f(3));
            assert_eq!(
                bg,
                color(&verdict),
                "cell {req} at {version} ({verdict}) is rendered in {bg}"
            );
            (req, version, verdict)
        })
        .collect()
}

fn assert_nothing_fetched(page: &Browser) {
    let n = page.script("return performance.getEntriesByType('resource').length;");
    assert_eq!(n, json!(0), "the page fetched resources");
}

#[test]
fn failing_certification_shows_the_failed_requirement_and_its_evidence() {
    // A MUST broken: exit status 1.
    let (_dir, plugin, page) = open_report(
        "del-not-idempotent@host-local",
        "host-local.json",
        "del-idempotent",
        1,
    );
    assert!(page.title().contains("NOT CONFORMANT"), "{}", page.title());
    let verdict = page.find("#verdict");
    assert_eq!(page.text(&verdict), "NOT CONFORMANT");
    assert_eq!(page.css(&verdict, "background-color"), color("fail"));
    assert_nothing_fetched(&page);

    let cells = assert_cells_colored(&page);
    let del6: Vec<_> = cells.iter().filter(|c| c.0 == "DEL-6").collect();
    assert!(!del6.is_empty(), "no DEL-6 row: {cells:?}");
    assert!(
        del6.iter().any(|c| c.2 == "fail"),
        "DEL-6 has no failed cell: {del6:?}"
    );
    assert!(cells.iter().any(|c| c.2 == "pass"), "no passed cell");

    // Identity: the binary's digest and its VERSION answer, the harness's version.
    assert_eq!(
        page.text(&page.find("#plugin-sha256")),
        sha256sum(&plugin),
        "SHA-256 of {}",
        plugin.display()
    );
    assert!(page
        .text(&page.find("#version-answer"))
        .contains("supportedVersions"));
    assert!(page
        .text(&page.find("#harness-version"))
        .starts_with("cni-conformance "));

    // The failure's evidence is folded away until its summary is clicked.
    let details = page.find("details#req-DEL-6");
    let evidence = page.find("details#req-DEL-6 .evidence");
    assert!(!page.displayed(&evidence), "evidence shown before a click");
    assert_eq!(page.text(&evidence), "");
    page.click(&page.find("details#req-DEL-6 > summary"));
    assert!(page.displayed(&evidence), "evidence hidden after a click");
    assert_eq!(page.attribute(&details, "open"), Some("true".into()));
    let text = page.text(&evidence);
    let catalogue = harness::catalogue::Catalogue::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-cases/requirements.toml"),
    )
    .expect("the catalogue loads");
    let rule = &catalogue
        .get("DEL-6")
        .expect("DEL-6 is in the catalogue")
        .summary;
    assert!(
        text.contains(rule.as_str()),
        "the rule {rule:?} is not shown:\n{text}"
    );
    for expected in [
        "del-idempotent@",
        "step 2",
        "CNI_COMMAND=DEL",
        "request (stdin)",
        "\"type\": \"host-local\"",
        "attachment already deleted",
    ] {
        assert!(
            text.contains(expected),
            "evidence lacks {expected:?}:\n{text}"
        );
    }
    let height = page.script(
        "return document.querySelector('details#req-DEL-6 pre.request').getBoundingClientRect().height;",
    );
    assert!(
        height.as_f64().is_some_and(|h| h > 20.0),
        "the request is not laid out: height {height}"
    );
}

/// A DEL that leaks its link, address and route (ptp's, through the mutant): a warning without
/// `--strict`, and the failed comparison's differences listed one per line, added state green.
#[test]
fn state_differences_are_listed_line_by_line() {
    let (_dir, _, page) = open_report("leak-on-del@ptp", "ptp.json", "del-only-own-attachment", 0);
    let cells = assert_cells_colored(&page);
    assert!(
        cells.iter().any(|c| c.0 == "DEL-1" && c.2 == "warn"),
        "no warned DEL-1 cell: {cells:?}"
    );
    let added = page.find("details#req-DEL-1 ul.diff li.added");
    assert!(!page.displayed(&added), "the diff is shown before a click");
    page.click(&page.find("details#req-DEL-1 > summary"));
    assert!(page.displayed(&added));
    let lines: Vec<String> = page
        .find_all("details#req-DEL-1 ul.diff li.added")
        .iter()
        .map(|l| page.text(l))
        .collect();
    for kind in ["+ link ", "+ address ", "+ route "] {
        assert!(
            lines.iter().any(|l| l.contains(kind)),
            "no {kind:?} line: {lines:?}"
        );
    }
    assert_eq!(page.css(&added, "color"), "rgb(17, 99, 41)");
}

#[test]
fn passing_certification_is_green_and_lists_no_failure() {
    let (_dir, _, page) = open_report("none@host-local", "host-local.json", "del-idempotent", 0);
    let verdict = page.find("#verdict");
    assert_eq!(page.text(&verdict), "CONFORMANT");
    assert_eq!(page.css(&verdict, "background-color"), color("pass"));
    assert_nothing_fetched(&page);
    let cells = assert_cells_colored(&page);
    assert!(
        cells.iter().all(|c| c.2 == "pass" || c.2 == "none"),
        "{cells:?}"
    );
    assert!(cells.iter().any(|c| c.0 == "DEL-6" && c.2 == "pass"));
    assert!(page.displayed(&page.find("#no-failures")));
    assert!(page.find_all("details.requirement").is_empty());
}

/// A plugin whose VERSION answer, stderr and DEL error carry markup and script: the page shows
/// it as text, runs none of it, and keeps its one script working.
#[test]
fn hostile_plugin_output_stays_text() {
    require_tools();
    let dir = tempfile::Builder::new()
        .prefix("cnirs-html-")
        .tempdir()
        .unwrap();
    let plugin = dir.path().join("hostile");
    let payload =
        r#"</pre></details><script>window.pwned=1</script><img src=x onerror=window.pwned=2>"#;
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n\
             echo '{payload}' >&2\n\
             if [ \"$CNI_COMMAND\" = VERSION ]; then\n\
               echo '{{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"],\"note\":\"{esc}\"}}'\n\
               exit 0\n\
             fi\n\
             if [ \"$CNI_COMMAND\" = DEL ]; then\n\
               {REAL_DIR}/host-local >/dev/null\n\
               echo '{{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"{esc}\"}}'\n\
               exit 1\n\
             fi\n\
             exec {REAL_DIR}/host-local\n",
            esc = payload.replace('"', "\\\""),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Every DEL fails: not conformant.
    let html = certify_html(
        dir.path(),
        &plugin,
        "host-local.json",
        &["--filter", "del-idempotent"],
        1,
    );

    let page = Browser::start();
    page.open(&html);
    assert_eq!(
        page.script("return typeof window.pwned;"),
        json!("undefined")
    );
    assert!(page.find_all("img").is_empty(), "an injected image");
    assert_eq!(page.find_all("script").len(), 1, "an injected script");
    assert!(page
        .text(&page.find("#version-answer"))
        .contains("<script>window.pwned=1</script>"));
    // Every requirement's evidence open at once, through the page's own script.
    page.click(&page.find("#expand-all"));
    let failed = page.find_all("details.requirement");
    assert!(!failed.is_empty());
    let all: String = failed.iter().map(|d| page.text(d)).collect();
    assert!(all.contains(payload), "the payload is not shown as text");
    assert_eq!(
        page.script("return typeof window.pwned;"),
        json!("undefined")
    );
    assert_cells_colored(&page);
}

/// A Chromium session through chromedriver, ended (session deleted, the driver's process group
/// killed) on drop.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::Builder::new()
            .prefix("cnirs-chromium-")
            .tempdir()
            .unwrap();
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            profile,
        };
        let start = Instant::now();
        while request(port, "GET", "/status", None).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", b.profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = request(self.port, method, path, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status == 200, "{method} {path}: HTTP {status}: {v}");
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, file: &Path) {
        let url = format!("file://{}", file.canonicalize().unwrap().display());
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    fn title(&self) -> String {
        self.session_call("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        let v = self.session_call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .expect("elements")
            .iter()
            .map(|e| e[ELEMENT].as_str().expect("element id").to_string())
            .collect()
    }

    fn text(&self, el: &str) -> String {
        self.session_call("GET", &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A computed CSS value; an opaque `rgba(r, g, b, 1)` as `rgb(r, g, b)`, as
    /// `getComputedStyle` spells it.
    fn css(&self, el: &str, property: &str) -> String {
        let v = self
            .session_call("GET", &format!("/element/{el}/css/{property}"), None)
            .as_str()
            .unwrap_or_default()
            .to_string();
        match v.strip_prefix("rgba(").and_then(|r| r.strip_suffix(", 1)")) {
            Some(rgb) => format!("rgb({rgb})"),
            None => v,
        }
    }

    fn attribute(&self, el: &str, name: &str) -> Option<String> {
        self.session_call("GET", &format!("/element/{el}/attribute/{name}"), None)
            .as_str()
            .map(str::to_string)
    }

    fn displayed(&self, el: &str) -> bool {
        self.session_call("GET", &format!("/element/{el}/displayed"), None)
            .as_bool()
            .expect("displayed is a bool")
    }

    fn click(&self, el: &str) {
        self.session_call("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    fn script(&self, body: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": []})),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            );
        }
        // chromedriver and the browser it started share its process group.
        unsafe {
            libc::killpg(self.driver.id() as i32, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// One HTTP/1.1 request to chromedriver on the loopback address; the status and JSON body.
fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open: read the header, then the body it announces.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed in the header"));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let got = raw.len() - header_end;
        let done = match length {
            Some(n) => got >= n,
            None if chunked => raw.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&raw[header_end..]);
    let body = if chunked {
        dechunk(&rest)
    } else {
        rest.into_owned()
    };
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Ok((status, v))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
