//! `rvt call` and `rvt connect` against the official TypeScript server (npm `rivetkit@2.1.5`,
//! file-system driver, the guide's counter: `tests/ts-server`), in every encoding.

mod support;

use support::{rvt, TsServer, Watch};

#[test]
fn call_and_connect_on_the_official_typescript_server() {
    let Some(server) = TsServer::start() else {
        return;
    };
    let endpoint = &server.endpoint();
    let mut expected = 0.0;
    for encoding in ["json", "cbor", "bare"] {
        let call = |args: &[&str]| {
            let mut all = vec!["--json", "--encoding", encoding, "call", "counter"];
            all.extend_from_slice(args);
            rvt(endpoint, &all)
        };
        expected += 2.0;
        let output = call(&["ts/cli", "increment", "2", "--create"]).ok().json();
        assert_eq!(output.as_f64(), Some(expected), "{encoding}");

        let watch = Watch::start(
            endpoint,
            &[
                "--encoding",
                encoding,
                "counter",
                "ts/cli",
                "--event",
                "count",
            ],
        );
        watch.wait_status("connected");
        expected += 3.0;
        call(&["ts/cli", "increment", "3"]).ok();
        let event = watch.next();
        assert_eq!(event["event"], "count", "{event}");
        assert_eq!(event["args"][0].as_f64(), Some(expected), "{encoding}");
        assert_eq!(watch.interrupt(), 0);

        let unknown = call(&["ts/cli", "nope"]);
        assert_eq!(unknown.code, 1, "{unknown:?}");
        assert_eq!(unknown.error()["code"], "not_found", "{unknown:?}");
    }
    let missing = rvt(
        endpoint,
        &["--json", "call", "counter", "nobody", "getCount"],
    );
    assert_eq!(missing.code, 1, "{missing:?}");
    assert_eq!(missing.error()["group"], "actor", "{missing:?}");
}
