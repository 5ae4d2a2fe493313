//! HTTPS to ClickHouse: a ClickHouse server with an HTTPS port and a certificate signed by a CA
//! made here (as a private CA or a self-signed managed endpoint would be); `attrib` trusts it
//! through `clickhouse.ca_file`, and refuses it without.

use attrib_tests::{attrib, infra, unique, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl on the PATH");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, and a server certificate for 127.0.0.1 it signed.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=attrib test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A second ClickHouse server of the installed version, with HTTPS on `https_port`.
struct HttpsClickHouse {
    child: Child,
}

impl Drop for HttpsClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_https_clickhouse(dir: &Path, https_port: u16) -> HttpsClickHouse {
    for d in ["data", "tmp", "uf", "fs"] {
        std::fs::create_dir_all(dir.join(d)).expect("dirs");
    }
    let p = |name: &str| dir.join(name).display().to_string();
    let child = Command::new("clickhouse-server")
        .arg("--config-file=/etc/clickhouse-server/config.xml")
        .arg("--")
        .arg(format!("--http_port={}", free_port()))
        .arg(format!("--tcp_port={}", free_port()))
        .arg(format!("--interserver_http_port={}", free_port()))
        .arg(format!("--https_port={https_port}"))
        .arg(format!("--openSSL.server.certificateFile={}", p("server.pem")))
        .arg(format!("--openSSL.server.privateKeyFile={}", p("server.key")))
        .arg("--openSSL.server.dhParamsFile=")
        .arg(format!("--path={}/", p("data")))
        .arg(format!("--tmp_path={}/", p("tmp")))
        .arg(format!("--user_files_path={}/", p("uf")))
        .arg(format!("--format_schema_path={}/", p("fs")))
        .arg(format!("--logger.log={}", p("log")))
        .arg(format!("--logger.errorlog={}", p("err")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clickhouse-server (scripts/start-clickhouse.sh installs it)");
    let server = HttpsClickHouse { child };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", https_port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the HTTPS port did not open: {}",
            std::fs::read_to_string(dir.join("err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

#[test]
fn clickhouse_over_https_is_trusted_through_the_configured_ca_and_refused_without_it() {
    // Needs the test ClickHouse installed (and openssl), as the other server tests.
    if infra().is_none() {
        return;
    }
    let dir = TempDir::new("tls");
    make_certificates(dir.path());
    let port = free_port();
    let _server = start_https_clickhouse(dir.path(), port);
    let url = format!("https://127.0.0.1:{port}");
    let database = unique("tls");

    // The CA is not among the system's roots: the connection is refused, naming the reason.
    let err = attrib(&["migrate", "--clickhouse", &url, "--database", &database]).expect_err("untrusted");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let config = dir.path().join("attrib.toml");
    std::fs::write(&config, format!("[clickhouse]\nca_file = \"{}\"\n", dir.path().join("ca.pem").display()))
        .expect("config");
    let config = config.display().to_string();
    attrib(&["migrate", "--config", &config, "--clickhouse", &url, "--database", &database])
        .expect("migrate over HTTPS");
    // Reads over the same connection: an empty ledger has nothing to reconcile.
    attrib(&["reconcile", "--month", "2026-07", "--config", &config, "--clickhouse", &url, "--database", &database])
        .expect("reconcile over HTTPS");

    // A CA file that is not one is a configuration error that names the file.
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").expect("bad");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("[clickhouse]\nca_file = \"{}\"\n", dir.path().join("bad.pem").display()))
        .expect("bad");
    let err =
        attrib(&["migrate", "--config", &bad.display().to_string(), "--clickhouse", &url, "--database", &database])
            .expect_err("bad CA file");
    assert!(err.contains("clickhouse.ca_file") && err.contains("bad.pem"), "{err}");
}
