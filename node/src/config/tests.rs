use super::*;

const MINIMAL: &str = r#"
[node]
name = "W01"
role = "window"
desks = ["registration"]
data_dir = "/tmp/x"
[tls]
ca = "ca.pem"
cert = "W01.pem"
key = "W01.key"
"#;

/// `[log] level` matches field values as written: `[peer{peer=W0.}]` is about a peer
/// named "W0.", not every W0x. As regular expressions, some patterns took seconds to
/// compile (found by the config fuzz target).
#[test]
fn log_filter_field_values_are_matched_as_written() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt;

    struct Count(Arc<AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    // The mesh's span, as `sync::mesh::connection` opens it for each peer.
    let text = format!("{MINIMAL}\n[log]\nlevel = \"error,[peer{{peer=W0.}}]=debug\"\n");
    let c: Config = toml::from_str(&text).expect("parse");
    c.check().expect("valid");
    let seen = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(c.log_filter().expect("parses"))
        .with(Count(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("peer", peer = %"W01").in_scope(|| tracing::debug!("W01"));
        tracing::info_span!("peer", peer = %"W0.").in_scope(|| tracing::debug!("W0."));
    });
    assert_eq!(seen.load(Ordering::Relaxed), 1, "only the peer named W0.");
}

/// Automerge's own spans (`info` by `#[instrument]`'s default, several per document a peer
/// sends) are off at the default level, and on when the filter names Automerge.
#[test]
fn automerge_s_spans_are_off_unless_the_filter_names_it() {
    use tracing_subscriber::layer::SubscriberExt;

    let enabled = |level: &str| {
        let text = format!("{MINIMAL}\n[log]\nlevel = \"{level}\"\n");
        let c: Config = toml::from_str(&text).expect("parse");
        c.check().expect("valid");
        let subscriber = tracing_subscriber::registry().with(c.log_filter().expect("parses"));
        tracing::subscriber::with_default(subscriber, || {
            let load = tracing::info_span!(target: "automerge::storage::load", "load_changes");
            let ours = tracing::info_span!(target: "lifeline_sync::mesh", "peer");
            let warned = tracing::enabled!(target: "automerge::automerge", tracing::Level::WARN);
            (!load.is_disabled(), !ours.is_disabled(), warned)
        })
    };
    assert_eq!(enabled("info"), (false, true, true));
    assert_eq!(enabled("debug,lifeline_core=trace"), (false, true, true));
    assert_eq!(enabled("info,automerge=info"), (true, true, true));
    assert_eq!(enabled("error"), (false, false, false));
}

#[test]
fn a_minimal_config_gets_its_defaults() {
    let c: Config = toml::from_str(MINIMAL).expect("parse");
    c.check().expect("valid");
    assert_eq!(c.thresholds.peer_timeout, Duration::from_secs(5));
    assert_eq!(c.api.listen, default_api());
    assert!(c.peers.is_empty());
    assert_eq!(c.hospital.utc_offset, UtcOffset::CHINA);
    assert_eq!(c.store_options().utc_offset_min, 480);
    assert_eq!(c.window_days(), Some(7));
    assert_eq!(c.metrics.listen, None, "metrics are off by default");
    assert_eq!(c.network.replication_nice, 10);
}

#[test]
fn replication_s_priority_is_checked() {
    let c: Config =
        toml::from_str(&format!("{MINIMAL}\n[network]\nreplication_nice = 0\n")).expect("parse");
    c.check().expect("0 runs replication beside the desks");
    let low: Config =
        toml::from_str(&format!("{MINIMAL}\n[network]\nreplication_nice = 20\n")).expect("parse");
    let err = low.check().unwrap_err().to_string();
    assert!(
        err.contains("network.replication_nice") && err.contains("20"),
        "{err}"
    );
    assert!(
        toml::from_str::<Config>(&format!("{MINIMAL}\n[network]\nreplication_nice = -1\n"))
            .is_err(),
        "a negative value would raise replication above the desks"
    );
}

#[test]
fn retention_and_metrics_are_checked() {
    let c: Config = toml::from_str(&format!(
        "{MINIMAL}\n[retention]\nwindow_days = 14\n[metrics]\nlisten = \"127.0.0.1:9480\"\n"
    ))
    .expect("parse");
    c.check().expect("valid");
    assert_eq!(c.window_days(), Some(14));
    let zero: Config =
        toml::from_str(&format!("{MINIMAL}\n[retention]\nwindow_days = 0\n")).expect("parse");
    assert!(
        zero.check()
            .unwrap_err()
            .to_string()
            .contains("retention.window_days")
    );
    let same: Config = toml::from_str(&format!(
        "{MINIMAL}\n[metrics]\nlisten = \"127.0.0.1:7480\"\n"
    ))
    .expect("parse");
    assert!(
        same.check()
            .unwrap_err()
            .to_string()
            .contains("metrics.listen")
    );
    let typo = format!("{MINIMAL}\n[retention]\nwindow_day = 7\n");
    assert!(
        toml::from_str::<Config>(&typo)
            .unwrap_err()
            .to_string()
            .contains("window_day")
    );
}

#[test]
fn the_hospital_offset_reaches_the_store_and_bad_ones_are_named() {
    let c: Config =
        toml::from_str(&format!("[hospital]\nutc_offset = \"-03:30\"\n{MINIMAL}")).expect("parse");
    assert_eq!(c.store_options().utc_offset_min, -210);
    let err = toml::from_str::<Config>(&format!("[hospital]\nutc_offset = \"+8\"\n{MINIMAL}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hospital.utc_offset") && err.contains("+HH:MM"),
        "{err}"
    );
    let typo = format!("[hospital]\nutc_ofset = \"+08:00\"\n{MINIMAL}");
    let err = toml::from_str::<Config>(&typo).unwrap_err().to_string();
    assert!(err.contains("utc_ofset"), "{err}");
}

/// "7个工作日" counted by the hospital's own calendar: a file in `[hospital]` replaces the
/// shipped one; a bad file is refused naming it and the line.
#[test]
fn the_hospital_s_calendar_file_replaces_the_shipped_one() {
    let dir = tempfile::tempdir().expect("dir");
    let cal = dir.path().join("calendar.txt");
    std::fs::write(&cal, "year 2026\n2026-11-26 off  院庆\n").expect("write");
    let config = dir.path().join("node.toml");
    let with = |cal: &Path| format!("[hospital]\ncalendar = \"{}\"\n{MINIMAL}", cal.display());
    std::fs::write(&config, with(&cal)).expect("write");
    let c = Config::load(&config).expect("load");
    let opts = c.store_options();
    let wed: lifeline_core::Date = "2026-11-25".parse().expect("date");
    assert!(
        !opts.calendar.is_working_day(wed.add_days(1)),
        "the hospital's day off"
    );
    assert_eq!(
        opts.calendar.add_working_days(wed, 1).to_string(),
        "2026-11-27"
    );
    assert_eq!(
        Config::load(&config)
            .map(|c| c.hospital.calendar.clone())
            .ok()
            .flatten(),
        Some(cal.clone())
    );
    // Without a file, the shipped calendar.
    let plain: Config = toml::from_str(MINIMAL).expect("parse");
    assert_eq!(plain.store_options().calendar, WorkCalendar::china());
    std::fs::write(&cal, "year 2026\n2026-11-30 work\n").expect("write");
    let err = format!("{:#}", Config::load(&config).unwrap_err());
    assert!(
        err.contains("hospital.calendar") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn mistakes_are_named() {
    let typo = MINIMAL.replace("desks", "desk");
    let err = toml::from_str::<Config>(&typo).unwrap_err().to_string();
    assert!(err.contains("desk"), "{err}");
    let bad_role = MINIMAL.replace("\"window\"", "\"janitor\"");
    assert!(toml::from_str::<Config>(&bad_role).is_err());
    let mut c: Config = toml::from_str(MINIMAL).expect("parse");
    c.api.listen = "0.0.0.0:7480".parse().expect("addr");
    assert!(c.check().unwrap_err().to_string().contains("loopback"));
    let bad_time = format!("{MINIMAL}\n[thresholds]\npeer_timeout = \"five\"\n");
    assert!(toml::from_str::<Config>(&bad_time).is_err());
}
