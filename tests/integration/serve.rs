//! `serve` over real HTTP on loopback: every route and error, predict's answers bit for bit
//! under 64 concurrent clients, reload under load, a corrupt reload, graceful shutdown, and
//! hostile clients (malformed, oversized, slow, stalled). Each test starts its own server on
//! an ephemeral port, read from its "listening" log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{
    bin, run, sample, temp_dir, three_class_csv, train_classes, train_small, write,
};

/// A running `rnn-sentiment serve`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `serve -m model --addr 127.0.0.1:0 extra...` in `dir` and waits for its address.
    fn start(dir: &Path, model: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rnn-sentiment"))
            .current_dir(dir)
            .args(["serve", "--addr", "127.0.0.1:0", "-m"])
            .arg(model)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addr) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        // Reads the log for the whole run, so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line) {
                    let _ = found.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line; log: {:?}", log.lock().unwrap()));
        Server { child, addr, log }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log once `done` holds for it (read by another thread, so a line written before an
    /// answer may arrive after it); panics after 20 s.
    fn wait_for_log(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{log:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal (by the child's own pid).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    fn wait(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the server did not exit within {within:?}; log: {:?}",
            self.log()
        );
    }

    fn post(&self, path: &str, body: &str) -> Reply {
        request(self.addr, "POST", path, body)
    }

    fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, "")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a "listening" line, text (`addr=...`) or JSON (`"addr":"..."`).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    if let Ok(value) = serde_json::from_str::<Value>(line) {
        return value["addr"].as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))?
        .parse()
        .ok()
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts the status, a JSON error body with that status and every fragment.
    fn assert_error(&self, status: u16, fragments: &[&str]) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["status"], status, "{self:?}");
        let message = body["error"].as_str().expect("an error message");
        for f in fragments {
            assert!(message.contains(f), "{message:?} lacks {f:?}");
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// One request on its own connection (`Connection: close`).
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    exchange(addr, &[head.as_bytes(), body.as_bytes()].concat())
}

/// Writes raw bytes, reads the answer to the end.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send");
    read_reply(&mut stream)
}

fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the answer");
    parse_reply(&bytes)
}

fn parse_reply(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `predict --json` (with `extra` options) of `texts`: one JSON object a text.
fn predict_lines(dir: &Path, model: &Path, texts: &[String], extra: &[&str]) -> Vec<String> {
    let file = write(dir, "texts.txt", texts.join("\n") + "\n");
    let (code, stdout, stderr) = run(bin(dir)
        .args(["predict", "--json", "-m"])
        .arg(model)
        .arg("--file")
        .arg(&file)
        .args(extra));
    assert_eq!(code, 0, "{stderr}");
    stdout.lines().map(str::to_string).collect()
}

/// Texts of many lengths and words, in and out of the vocabulary.
fn texts(n: usize) -> Vec<String> {
    let words = [
        "a",
        "wonderful",
        "moving",
        "film",
        "awful",
        "script",
        "zorgblat",
        "the",
        "acting",
        "is",
        "not",
        "good",
        "boring",
        "!",
        "great",
        "plot",
    ];
    (0..n)
        .map(|i| {
            let len = 1 + (i * 7) % 23;
            (0..len)
                .map(|t| words[(i * 3 + t * 5 + t * t) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn predictions(lines: &[String]) -> String {
    format!("{{\"predictions\":[{}]}}", lines.join(","))
}

/// The value of an unlabelled metric, or of the line starting with `series`.
fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
        .parse()
        .expect("a number")
}

#[test]
fn every_route_answers_as_predict_and_inspect_do() {
    let d = temp_dir();
    let model = train_small(d.path(), "lstm", "m.json", &[]);
    let server = Server::start(d.path(), &model, &["--log-format", "json"]);
    let texts = texts(5);
    let expected = predict_lines(d.path(), &model, &texts, &[]);
    // One text: predict's object, byte for byte; several: in input order.
    let one = server.post("/v1/predict", &json!({"text": texts[0]}).to_string());
    assert_eq!(one.status, 200, "{one:?}");
    assert!(one
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert_eq!(one.body, expected[0]);
    let many = server.post("/v1/predict", &json!({"texts": texts}).to_string());
    assert_eq!(many.body, predictions(&expected));
    let none = server.post("/v1/predict", r#"{"texts": []}"#);
    assert_eq!(none.body, r#"{"predictions":[]}"#);
    // Explanations: predict --explain's objects.
    let explained = predict_lines(d.path(), &model, &texts, &["--explain"]);
    let reply = server.post(
        "/v1/predict",
        &json!({"texts": texts, "explain": true}).to_string(),
    );
    assert_eq!(reply.body, predictions(&explained));
    // The model: what inspect --json prints.
    let (_, inspect, _) = run(bin(d.path()).args(["inspect", "--json", "-m"]).arg(&model));
    let served = server.get("/v1/model");
    assert_eq!(served.status, 200);
    assert_eq!(
        served.json(),
        serde_json::from_str::<Value>(&inspect).unwrap()
    );
    assert_eq!(server.get("/healthz").json()["status"], "ok");
    let ready = server.get("/readyz");
    assert_eq!(
        (ready.status, ready.json()["generation"].clone()),
        (200, json!(1))
    );
    // Metrics count what was asked above.
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.head.contains("text/plain; version=0.0.4"),
        "{}",
        metrics.head
    );
    let m = &metrics.body;
    let ok = "rnn_sentiment_http_requests_total{route=\"/v1/predict\",status=\"200\"}";
    assert_eq!(metric(m, ok), 4.0);
    assert_eq!(metric(m, "rnn_sentiment_texts_scored_total"), 11.0);
    assert!(metric(m, "rnn_sentiment_tokens_scored_total") >= 11.0);
    assert!(metric(m, "rnn_sentiment_batch_texts_count") >= 1.0);
    let latency = "rnn_sentiment_http_request_duration_seconds_count{route=\"/v1/predict\"}";
    assert_eq!(metric(m, latency), 4.0);
    assert!(metric(m, "rnn_sentiment_model_load_seconds") > 0.0);
    assert!(m.contains("rnn_sentiment_model_info{path=\""), "{m}");
    // The access log: one JSON object a request, with its route, status and texts.
    let access = |log: &[String]| -> Vec<Value> {
        log.iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "request")
            .collect()
    };
    let log = server.wait_for_log(|log| access(log).len() >= 8);
    let access = access(&log);
    assert_eq!(access.len(), 8, "{log:?}");
    assert_eq!(access[1]["path"], "/v1/predict");
    assert_eq!(access[1]["method"], "POST");
    assert_eq!(
        (access[1]["status"].clone(), access[1]["texts"].clone()),
        (json!(200), json!(5))
    );
    assert!(access[1]["ms"].as_f64().is_some() && access[1]["time"].is_string());
}

#[test]
fn k_class_models_answer_top_k_and_explain_class_as_predict_does() {
    let d = temp_dir();
    let data = write(d.path(), "three.csv", three_class_csv(300, 4));
    let model = train_classes(d.path(), &data, "k3.json", &["--epochs", "2"]);
    let server = Server::start(d.path(), &model, &[]);
    let texts = texts(4);
    let expected = predict_lines(d.path(), &model, &texts, &["--top-k", "2"]);
    let reply = server.post(
        "/v1/predict",
        &json!({"texts": texts, "top_k": 2}).to_string(),
    );
    assert_eq!(reply.body, predictions(&expected));
    let expected = predict_lines(
        d.path(),
        &model,
        &texts,
        &["--explain", "--explain-class", "neutral"],
    );
    let body = json!({"texts": texts, "explain": true, "explain_class": "neutral"});
    assert_eq!(
        server.post("/v1/predict", &body.to_string()).body,
        predictions(&expected)
    );
    server
        .post(
            "/v1/predict",
            r#"{"text": "a", "explain": true, "explain_class": "meh"}"#,
        )
        .assert_error(
            400,
            &["\"explain_class\" \"meh\" is not a class", "neutral"],
        );
    server
        .post("/v1/predict", r#"{"text": "a", "top_k": 0}"#)
        .assert_error(400, &["\"top_k\" must be from 1 to 3"]);
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status() {
    let d = temp_dir();
    let model = train_small(d.path(), "gru", "m.json", &[]);
    let limits = [
        "--max-body-bytes",
        "2000",
        "--max-texts",
        "3",
        "--max-text-chars",
        "50",
    ];
    let server = Server::start(d.path(), &model, &limits);
    let cases: &[(&str, u16, &[&str])] = &[
        ("{\"text\": \"a\"", 400, &["not valid JSON"]),
        ("", 400, &["not valid JSON"]),
        ("[\"a\"]", 400, &["must be a JSON object", "an array"]),
        (
            r#"{"text": 3}"#,
            400,
            &["\"text\" must be a string, not the number 3"],
        ),
        (
            r#"{"texts": "a"}"#,
            400,
            &["\"texts\" must be an array of strings, not a string"],
        ),
        (
            r#"{"texts": ["a", null]}"#,
            400,
            &["\"texts\"[1] must be a string, not null"],
        ),
        (
            r#"{"text": "a", "explain": "yes"}"#,
            400,
            &["\"explain\" must be true or false"],
        ),
        (
            r#"{"text": "a", "top_k": 2}"#,
            400,
            &["\"top_k\" is for K-class models"],
        ),
        (
            r#"{"text": "a", "top_k": -1}"#,
            400,
            &["\"top_k\" must be a positive integer"],
        ),
        (r#"{"txt": "a"}"#, 400, &["unknown field \"txt\""]),
        (r#"{"text": "a", "texts": ["b"]}"#, 400, &["not both"]),
        (r#"{}"#, 400, &["missing field \"text\""]),
        (
            r#"{"texts": ["a", "b", "c", "d"]}"#,
            413,
            &["more than the limit of 3 texts", "--max-texts"],
        ),
    ];
    for (body, status, fragments) in cases {
        server
            .post("/v1/predict", body)
            .assert_error(*status, fragments);
    }
    let long = json!({"texts": ["ok", "x".repeat(51)]}).to_string();
    server.post("/v1/predict", &long).assert_error(
        400,
        &["\"texts\"[1] is longer than the limit of 50 characters"],
    );
    // 50 characters of a multi-byte script are within the limit.
    let wide = json!({"text": "é".repeat(50)}).to_string();
    assert_eq!(server.post("/v1/predict", &wide).status, 200);
    let big = json!({"text": "a ".repeat(1500)}).to_string();
    server
        .post("/v1/predict", &big)
        .assert_error(413, &["larger than the limit of 2000 bytes"]);
    server.get("/nope").assert_error(404, &["no route /nope"]);
    server
        .get("/v1/predict")
        .assert_error(405, &["GET /v1/predict is not allowed; use POST"]);
    server.post("/metrics", "").assert_error(405, &["use GET"]);
    // Without --admin there is no reload route.
    server
        .post("/v1/reload", "")
        .assert_error(404, &["no route /v1/reload"]);
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn hostile_bodies_cannot_crash_the_server_or_pass_its_limits() {
    let d = temp_dir();
    let model = train_small(d.path(), "rnn", "m.json", &[]);
    let server = Server::start(d.path(), &model, &["--max-body-bytes", "100000"]);
    // Nesting deeper than the JSON parser's recursion limit.
    // Nesting far deeper than a recursive parser's stack: read without recursion, refused
    // for its type.
    let deep = "[".repeat(40_000) + &"]".repeat(40_000);
    server
        .post("/v1/predict", &deep)
        .assert_error(400, &["must be a JSON object", "not an array"]);
    let deep_texts = format!("{{\"texts\": [{deep}]}}");
    server
        .post("/v1/predict", &deep_texts)
        .assert_error(400, &["\"texts\"[0] must be a string, not an array"]);
    // Many tiny elements (the costliest shape for a parsed tree): counted as they are read.
    let tiny = format!("{{\"texts\": [{}1]}}", "1,".repeat(40_000));
    server
        .post("/v1/predict", &tiny)
        .assert_error(400, &["\"texts\"[0] must be a string, not the number 1"]);
    let many = format!("{{\"texts\": [{}\"a\"]}}", "\"a\",".repeat(20_000));
    server
        .post("/v1/predict", &many)
        .assert_error(413, &["more than the limit of 256 texts"]);
    let deep_object = r#"{"text":"#.repeat(10_000);
    server
        .post("/v1/predict", &deep_object)
        .assert_error(400, &["not valid JSON"]);
    // Bytes that are not UTF-8; NUL and control characters inside a valid string score.
    let raw = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 13\r\n\r\n{\"text\":\"\xff\xfe\"}";
    parse_reply(&exchange_bytes(server.addr, raw)).assert_error(400, &["not valid JSON"]);
    let controls = json!({"text": "\u{0}\u{1b}[31m\u{202e}"}).to_string();
    assert_eq!(server.post("/v1/predict", &controls).status, 200);
    // A body past the limit without a Content-Length (chunked): refused while it streams.
    let mut stream = connect(server.addr);
    let head = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 60_000, "a".repeat(60_000));
    // The server may answer and close before everything is sent: a failed write is fine.
    let _ = stream.write_all(chunk.as_bytes());
    let _ = stream.write_all(chunk.as_bytes());
    let _ = stream.write_all(b"0\r\n\r\n");
    read_reply(&mut stream).assert_error(413, &["limit of 100000 bytes"]);
    // A declared length past the limit is refused before the body is read.
    let raw = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n";
    parse_reply(&exchange_bytes(server.addr, raw.as_bytes())).assert_error(413, &["limit"]);
    // Garbage instead of HTTP: the connection is closed, the server goes on.
    let _ = exchange_bytes(server.addr, b"\x00\x01\x02 not http at all\r\n\r\n");
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
        "h".repeat(1 << 20)
    );
    let _ = exchange_bytes(server.addr, huge_header.as_bytes());
    assert_eq!(server.get("/healthz").status, 200);
    let log = server.log().join("\n");
    assert!(!log.contains("panicked"), "{log}");
}

/// Writes raw bytes (ignoring a write the server cut short), reads whatever comes back.
fn exchange_bytes(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    let _ = stream.write_all(raw);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes
}

#[test]
fn slow_and_stalled_clients_are_timed_out() {
    let d = temp_dir();
    let model = train_small(d.path(), "gru", "m.json", &[]);
    let options = ["--request-timeout", "0.5", "--max-connections", "2"];
    let server = Server::start(d.path(), &model, &options);
    // A body that stops half way: 408, within about the timeout.
    let start = Instant::now();
    let mut stream = connect(server.addr);
    let head = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"text\":";
    stream.write_all(head.as_bytes()).unwrap();
    read_reply(&mut stream).assert_error(408, &["--request-timeout"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Headers that never end, and a connection that sends nothing: both closed, so they
    // cannot hold the two connection slots and lock everyone else out.
    let mut stalled = connect(server.addr);
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost:")
        .unwrap();
    let mut silent = connect(server.addr);
    let start = Instant::now();
    assert_eq!(server.get("/healthz").status, 200);
    for stream in [&mut stalled, &mut silent] {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_client_that_stops_reading_its_answer_is_cut_off() {
    let d = temp_dir();
    let model = train_small(d.path(), "gru", "m.json", &[]);
    let options = [
        "--request-timeout",
        "0.5",
        "--max-connections",
        "1",
        "--max-body-bytes",
        "20000000",
        "--max-text-chars",
        "1000000",
    ];
    let server = Server::start(d.path(), &model, &options);
    // An answer (the texts echoed) far larger than the socket buffers, never read.
    let texts = vec!["a ".repeat(500_000); 8];
    let body = json!({ "texts": texts }).to_string();
    let mut greedy = connect(server.addr);
    let head = format!(
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    greedy.write_all(head.as_bytes()).unwrap();
    greedy.write_all(body.as_bytes()).unwrap();
    // It held the one connection slot; once cut off, the next client is served.
    let start = Instant::now();
    assert_eq!(server.get("/healthz").status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    drop(greedy);
}

#[test]
fn requests_whose_clients_gave_up_are_not_scored() {
    let d = temp_dir();
    let model = train_small(d.path(), "lstm", "m.json", &[]);
    let options = ["--threads", "1", "--request-timeout", "0.2"];
    let server = Server::start(d.path(), &model, &options);
    // One worker, busy for about a second explaining 16 texts of 400 tokens...
    let long = "good bad movie plot ".repeat(100);
    let slow = json!({"texts": vec![long; 16], "explain": true}).to_string();
    let addr = server.addr;
    let explaining = std::thread::spawn(move || request(addr, "POST", "/v1/predict", &slow));
    std::thread::sleep(Duration::from_millis(50));
    // ...while two requests queue behind it and time out.
    for text in ["first", "second"] {
        let body = json!({ "text": text }).to_string();
        server
            .post("/v1/predict", &body)
            .assert_error(408, &["--request-timeout"]);
    }
    explaining
        .join()
        .unwrap()
        .assert_error(408, &["--request-timeout"]);
    // Once the worker is free again, it scores the next request, not the abandoned two.
    let start = Instant::now();
    loop {
        let reply = server.post("/v1/predict", r#"{"text": "next"}"#);
        if reply.status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{reply:?}");
    }
    let metrics = server.get("/metrics").body;
    assert_eq!(metric(&metrics, "rnn_sentiment_texts_scored_total"), 17.0);
}

#[test]
fn sixty_four_concurrent_clients_get_exactly_predicts_answers() {
    let d = temp_dir();
    let model = train_small(d.path(), "lstm", "m.json", &["--pooling", "mean"]);
    let server = Server::start(d.path(), &model, &["--threads", "2"]);
    let texts = texts(320);
    let expected = Arc::new(predict_lines(d.path(), &model, &texts, &[]));
    let texts = Arc::new(texts);
    let addr = server.addr;
    let clients: Vec<_> = (0..64)
        .map(|client| {
            let (texts, expected) = (Arc::clone(&texts), Arc::clone(&expected));
            std::thread::spawn(move || {
                for k in 0..5 {
                    let i = client * 5 + k;
                    let reply = request(
                        addr,
                        "POST",
                        "/v1/predict",
                        &json!({"text": texts[i]}).to_string(),
                    );
                    assert_eq!(reply.status, 200, "{reply:?}");
                    assert_eq!(reply.body, expected[i], "text {i}");
                }
                // Some requests of several texts, batched with the single ones.
                let i = client * 5;
                let body = json!({"texts": texts[i..i + 5]}).to_string();
                let reply = request(addr, "POST", "/v1/predict", &body);
                assert_eq!(reply.body, predictions(&expected[i..i + 5]));
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let metrics = server.get("/metrics").body;
    let batches = metric(&metrics, "rnn_sentiment_batch_texts_count");
    let scored = metric(&metrics, "rnn_sentiment_texts_scored_total");
    assert_eq!(scored, 640.0);
    // Concurrent requests were scored together: fewer forward passes than requests.
    assert!(batches < 384.0, "{batches} batches for 384 requests");
}

#[test]
fn reload_under_load_loses_no_request_and_a_corrupt_file_keeps_the_old_model() {
    let d = temp_dir();
    let first = train_small(d.path(), "lstm", "a.json", &[]);
    let second = train_small(d.path(), "gru", "b.json", &[]);
    let served = d.path().join("served.json");
    std::fs::copy(&first, &served).unwrap();
    let server = Server::start(d.path(), &served, &["--admin"]);
    let texts = texts(8);
    let before = predict_lines(d.path(), &first, &texts, &[]);
    let after = predict_lines(d.path(), &second, &texts, &[]);
    assert_ne!(before, after);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = server.addr;
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (stop, text) = (Arc::clone(&stop), texts[i].clone());
            let answers = [before[i].clone(), after[i].clone()];
            std::thread::spawn(move || {
                let mut seen = [0, 0];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply = request(
                        addr,
                        "POST",
                        "/v1/predict",
                        &json!({"text": text}).to_string(),
                    );
                    assert_eq!(reply.status, 200, "{reply:?}");
                    let which = answers.iter().position(|a| *a == reply.body);
                    seen[which.unwrap_or_else(|| panic!("neither model's answer: {reply:?}"))] += 1;
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // The new file replaces the old one atomically, as a deploy would; SIGHUP reloads it.
    std::fs::copy(&second, d.path().join("next.json")).unwrap();
    std::fs::rename(d.path().join("next.json"), &served).unwrap();
    server.signal("HUP");
    let start = Instant::now();
    while server.get("/readyz").json()["generation"] != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        let seen = client.join().expect("no request failed");
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
    }
    // A broken file (a deploy cut short) is refused; the second model keeps serving.
    std::fs::write(&served, &std::fs::read(&second).unwrap()[..1000]).unwrap();
    server
        .post("/v1/reload", "")
        .assert_error(500, &["not reloaded", "still serving", "generation 2"]);
    server.signal("HUP");
    let start = Instant::now();
    while server
        .log()
        .iter()
        .filter(|l| l.contains("reload-failed"))
        .count()
        < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply = server.post("/v1/predict", &json!({"text": texts[0]}).to_string());
    assert_eq!(reply.body, after[0]);
    let metrics = server.get("/metrics").body;
    assert_eq!(
        metric(&metrics, "rnn_sentiment_model_reloads_total{result=\"ok\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "rnn_sentiment_model_reloads_total{result=\"failed\"}"
        ),
        2.0
    );
    // POST /v1/reload of a good file works too.
    std::fs::copy(&first, &served).unwrap();
    let reply = server.post("/v1/reload", "");
    assert_eq!(
        (reply.status, reply.json()["generation"].clone()),
        (200, json!(3))
    );
    assert_eq!(
        server
            .post("/v1/predict", &json!({"text": texts[0]}).to_string())
            .body,
        before[0]
    );
}

#[test]
fn shutdown_finishes_requests_in_flight_and_exits_zero() {
    let d = temp_dir();
    let model = train_small(d.path(), "lstm", "m.json", &[]);
    let expected = predict_lines(d.path(), &model, &["a fine film".to_string()], &[]);
    let mut server = Server::start(d.path(), &model, &[]);
    // A request in flight: headers and half its body sent when SIGTERM comes.
    let body = json!({"text": "a fine film"}).to_string();
    let (first, rest) = body.split_at(5);
    let mut stream = connect(server.addr);
    let head = format!(
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let start = Instant::now();
    while !server.log().iter().any(|l| l.contains("shutting-down")) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // No new connection is accepted while it drains.
    assert!(TcpStream::connect(server.addr).is_err());
    stream.write_all(rest.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, expected[0].as_str())
    );
    assert_eq!(server.wait(Duration::from_secs(10)), Some(0));
    let log = server
        .wait_for_log(|log| log.last().is_some_and(|l| l.ends_with("stopped")))
        .join("\n");
    assert!(
        log.contains("signal=SIGTERM") && log.ends_with("stopped"),
        "{log}"
    );
    // Ctrl-C (SIGINT) with nothing in flight: exit 0 at once.
    let mut server = Server::start(d.path(), &model, &[]);
    server.signal("INT");
    assert_eq!(server.wait(Duration::from_secs(10)), Some(0));
}

#[test]
fn bad_options_and_models_stop_serve_before_it_listens() {
    let d = temp_dir();
    let model = train_small(d.path(), "rnn", "m.json", &[]);
    let mut cmd = bin(d.path());
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--max-texts", "0", "-m"])
        .arg(&model);
    crate::common::fails_with(&mut cmd, &["invalid value for --max-texts: 0"]);
    let mut cmd = bin(d.path());
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--request-timeout",
        "nan",
        "-m",
    ])
    .arg(&model);
    crate::common::fails_with(&mut cmd, &["--request-timeout"]);
    let mut cmd = bin(d.path());
    cmd.args(["serve", "--addr", "127.0.0.1:0", "-m"])
        .arg(sample("train.csv"));
    crate::common::fails_with(&mut cmd, &["train.csv"]);
    let broken = write(d.path(), "broken.json", "{\"format\": ");
    let mut cmd = bin(d.path());
    cmd.args(["serve", "--addr", "127.0.0.1:0", "-m"])
        .arg(&broken);
    let stderr = crate::common::fails_with(&mut cmd, &["broken.json"]);
    assert!(!stderr.contains("listening"), "{stderr}");
}
