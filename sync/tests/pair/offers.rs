//! Emergency records are offered by id and heads before their changes go: after an outage
//! every node holds most of the others' emergency records, and each should reach central
//! once, not once from every node, nor go back from central to nodes that hold it.

use super::support::*;

/// Creates `n` records in an episode at `node`.
fn emergency(node: &Mem, episode: &EpisodeId, n: usize) -> Vec<RecordId> {
    (0..n)
        .map(|i| node.create_in(&format!("{}-yj{i}", node.id.name), Some(episode.clone())))
        .collect()
}

fn ids_of(docs: &[([u8; 16], Vec<[u8; 32]>)]) -> Vec<RecordId> {
    docs.iter()
        .map(|(id, _)| RecordId::from_bytes(*id))
        .collect()
}

#[test]
fn emergency_records_are_offered_first_and_only_the_lacking_ones_go() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    for i in 0..20 {
        w.create(&format!("normal{i}"));
    }
    let episode = EpisodeId::new("YJ-1").expect("valid");
    // Central already holds two of them as W01 does, relayed by the standby: W01 does not
    // know that.
    let mut urgent = emergency(&w, &episode, 2);
    let s = ca.mem("standby", NodeRole::Standby, &[]);
    link(&w, &s, &r).pump().expect("pump");
    link(&s, &c, &r).pump().expect("pump");
    assert_eq!(c.replica.records(), 22);
    urgent.extend(emergency(&w, &episode, 3));
    let mut link = link(&w, &c, &r);
    let hello_a = link.a.poll_transmit().expect("hello");
    let hello_b = link.b.poll_transmit().expect("hello");
    let Frame::Hello(h) = &hello_a else {
        panic!("hello first")
    };
    assert!(h.offering, "W01 has emergency records to offer");
    link.b.handle_frame(hello_a, link.now).expect("hello");
    link.a.handle_frame(hello_b, link.now).expect("hello");
    // The roster goes ahead of any change it signs, then the offer: ids and heads only.
    let Some(Frame::Roster { members, .. }) = link.a.poll_transmit() else {
        panic!("expected the roster first");
    };
    assert_eq!(members.len(), 2, "W01's own certificate and the standby's");
    let Some(Frame::Offer { offer, docs, last }) = link.a.poll_transmit() else {
        panic!("expected an offer next");
    };
    assert!(last);
    let mut offered = ids_of(&docs);
    offered.sort();
    let mut expected = urgent.clone();
    expected.sort();
    assert_eq!(offered, expected);
    assert!(
        link.a.poll_transmit().is_none(),
        "nothing else before the answer"
    );
    // Central asks for the three it lacks; its feed (empty here) waited for the last offer.
    link.b
        .handle_frame(Frame::Offer { offer, docs, last }, link.now)
        .expect("offer");
    // Central's own frames (its roster, its offer of the two it holds) go ahead of the answer.
    let (answered, ids) = loop {
        match link.b.poll_transmit().expect("central answers") {
            Frame::Want { offer, ids, .. } => break (offer, ids),
            other => link.a.handle_frame(other, link.now).expect("frame"),
        }
    };
    assert_eq!(answered, offer);
    let mut wanted: Vec<RecordId> = ids.iter().map(|w| RecordId::from_bytes(*w)).collect();
    wanted.sort();
    let mut lacking = urgent[2..].to_vec();
    lacking.sort();
    assert_eq!(wanted, lacking);
    link.a
        .handle_frame(
            Frame::Want {
                offer,
                ids,
                later: Vec::new(),
            },
            link.now,
        )
        .expect("want");
    let first = loop {
        match link
            .a
            .poll_transmit()
            .expect("W01 sends the wanted records")
        {
            Frame::Batch(b) => break b,
            other => link.b.handle_frame(other, link.now).expect("frame"),
        }
    };
    assert_eq!(first.upto, None);
    let mut sent: Vec<RecordId> = first
        .docs
        .iter()
        .map(|d| RecordId::from_bytes(d.id))
        .collect();
    sent.sort();
    assert_eq!(sent, lacking, "only what central lacked");
    deliver_then_converge(&mut link, first, &w, &c);
}

/// Hands `batch` to b, then runs the link until both sides are caught up and equal.
fn deliver_then_converge(link: &mut MemLink, batch: lifeline_sync::frame::Batch, a: &Mem, b: &Mem) {
    link.b
        .handle_frame(Frame::Batch(batch), link.now)
        .expect("batch");
    link.pump().expect("no protocol error");
    same_records(&a.replica, &b.replica);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
}

/// Windows and the standby hold the same emergency records (they replicated among
/// themselves while central was down) and all reconnect to central at once: each record
/// reaches central about once, and central sends none of them back. With more nodes than
/// the offers in flight can keep apart (ten windows with two offers of 16 unanswered each
/// cover the list at once), each node's own records, offered first, keep them apart.
#[test]
fn after_an_outage_each_emergency_record_reaches_central_about_once() {
    for (windows, each) in [(2, 150), (10, 20)] {
        let (records, received, sent_back) = reconnect_after_an_outage(windows, each);
        println!(
            "{windows} windows, {records} records: central received {received}, sent back {sent_back}"
        );
        // Without offers every node sent all of them ((windows + 1) × records received)
        // and central sent each to the nodes that had not sent it first. Without "later"
        // (a record asked of another node already), 324 of 300 and 232 of 200.
        assert!(
            received <= records + records / 50,
            "{windows} windows: central received {received} for {records} records"
        );
        assert!(
            sent_back <= records / 10,
            "{windows} windows: central sent back {sent_back}"
        );
    }
}

/// `windows` windows write `each` emergency records while central is down and replicate
/// them through the standby; then all of them and the standby reconnect to central at once,
/// their frames interleaved. Returns the records, and how many central received and sent.
fn reconnect_after_an_outage(windows: usize, each: usize) -> (u64, u64, u64) {
    let ca = Ca::new();
    let c = ca.mem("central", NodeRole::Central, &[]);
    let mut nodes: Vec<Mem> = (1..=windows)
        .map(|i| {
            ca.mem(
                &format!("W{i:02}"),
                NodeRole::Window,
                &[DeskRole::Registration],
            )
        })
        .collect();
    nodes.push(ca.mem("standby", NodeRole::Standby, &[]));
    let r = ca.anchor();
    let episode = EpisodeId::new("YJ-1").expect("valid");
    let mut all = Vec::new();
    for node in &nodes[..windows] {
        all.extend(emergency(node, &episode, each));
    }
    // The outage: the windows and the standby replicate among themselves.
    for _ in 0..2 {
        for w in 0..windows {
            link(&nodes[w], &nodes[windows], &r).pump().expect("pump");
        }
    }
    for node in &nodes {
        assert_eq!(node.replica.records(), all.len());
    }
    // Central is back: every node reconnects at once, their frames interleaved.
    let cfg = SessionConfig {
        batch_docs: if windows > 2 { 16 } else { 10 },
        ..SessionConfig::default()
    };
    let now = std::time::Instant::now();
    let mut links: Vec<MemLink> = nodes
        .iter()
        .map(|n| {
            Link::connect_with(
                (n.replica.clone(), &n.id),
                (c.replica.clone(), &c.id),
                &r,
                now,
                cfg.clone(),
            )
        })
        .collect();
    for _ in 0..100_000 {
        let mut moved = false;
        for l in &mut links {
            moved |= l.step().expect("step");
        }
        // Whatever one session took, every session of that node pushes (as the mesh does
        // on each commit).
        for l in &mut links {
            l.a.local_commit().expect("push");
            l.b.local_commit().expect("push");
        }
        if !moved {
            break;
        }
    }
    assert_eq!(c.replica.records(), all.len());
    for node in &nodes {
        same_records(&node.replica, &c.replica);
    }
    let received: u64 = links.iter().map(|l| l.b.stats().docs_received).sum();
    let sent_back: u64 = links.iter().map(|l| l.b.stats().docs_sent).sum();
    (all.len() as u64, received, sent_back)
}

#[test]
fn offers_and_answers_out_of_turn_are_protocol_errors() {
    let ca = Ca::new();
    let w = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let c = ca.mem("central", NodeRole::Central, &[]);
    let r = ca.anchor();
    let mut link = link(&w, &c, &r);
    link.pump().expect("pump");
    // An answer to an offer never made.
    let err = link
        .a
        .handle_frame(
            Frame::Want {
                offer: 1,
                ids: Vec::new(),
                later: Vec::new(),
            },
            link.now,
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SessionError::Protocol {
                violation: Violation::WantNotOffered { offer: 1 },
                ..
            }
        ),
        "{err}"
    );
    // An offer over the limit is refused before anything of it is looked up.
    let mut link = self::link(&w, &c, &r);
    link.pump().expect("pump");
    let docs = (0..4097u32)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            (id, vec![[7u8; 32]])
        })
        .collect();
    let err = link
        .b
        .handle_frame(
            Frame::Offer {
                offer: 1,
                docs,
                last: true,
            },
            link.now,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("an offer of 4097 records"),
        "{err}"
    );
    // An offer of records central does not hold asks for all of them and changes nothing.
    let mut link = self::link(&w, &c, &r);
    link.pump().expect("pump");
    let unknown = [[9u8; 16]];
    link.b
        .handle_frame(
            Frame::Offer {
                offer: 1,
                docs: vec![(unknown[0], vec![[7u8; 32]])],
                last: true,
            },
            link.now,
        )
        .expect("offer");
    let Some(Frame::Want { offer: 1, ids, .. }) = link.b.poll_transmit() else {
        panic!("expected the answer");
    };
    assert_eq!(ids, unknown.to_vec());
    assert_eq!(c.replica.records(), 0);
}

/// Central, and W01 holding records of W02's through the standby: `held` of them central
/// has from W02 itself, `lacking` it has not seen.
struct Relayed {
    _ca: Ca,
    c: Mem,
    w1: Mem,
    r: Anchor,
}

fn relayed_through_the_standby(held: usize, lacking: usize) -> Relayed {
    relayed(held, lacking, true)
}

/// W02 writes `first` records, which reach central (from W02 itself) if `central_first`,
/// or W01 (through the standby) if not; then `then` more, and all of them reach the other.
fn relayed(first: usize, then: usize, central_first: bool) -> Relayed {
    let ca = Ca::new();
    let c = ca.mem("central", NodeRole::Central, &[]);
    let s = ca.mem("standby", NodeRole::Standby, &[]);
    let w1 = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let w2 = ca.mem("W02", NodeRole::Window, &[DeskRole::Registration]);
    let r = ca.anchor();
    let to_central = |w2: &Mem| link(w2, &c, &r).pump().expect("pump");
    let to_w1 = |w2: &Mem| {
        link(w2, &s, &r).pump().expect("pump");
        link(&s, &w1, &r).pump().expect("pump");
    };
    let paths: [&dyn Fn(&Mem); 2] = if central_first {
        [&to_central, &to_w1]
    } else {
        [&to_w1, &to_central]
    };
    for (n, (name, path)) in [first, then]
        .into_iter()
        .zip([("first", paths[0]), ("then", paths[1])])
    {
        for i in 0..n {
            w2.create(&format!("{name}{i}"));
        }
        path(&w2);
    }
    Relayed { _ca: ca, c, w1, r }
}

/// Outside an outage too, a window relays to a server what it got from another node: W02's
/// records reach W01 through the standby, and central most often has them from W02 itself.
/// W01 offers such records (ids and heads) before sending them, and sends only what central
/// lacks, with its own records, in the same feed.
#[test]
fn relayed_records_are_offered_to_a_server_and_only_the_lacking_ones_go() {
    let Relayed { _ca, c, w1, r } = relayed_through_the_standby(30, 5);
    // And three of W01's own.
    for i in 0..3 {
        w1.create(&format!("own{i}"));
    }
    assert_eq!(w1.replica.records(), 38);
    assert_eq!(c.replica.records(), 30);
    let (_, central_received) = converge(&w1, &c, &r);
    assert_eq!(
        central_received, 8,
        "central is sent the five it lacked and W01's three, not the thirty it held"
    );
}

/// W01 and central connect and converge: how many records each was sent.
fn converge(w1: &Mem, c: &Mem, r: &Anchor) -> (u64, u64) {
    let mut link = link(w1, c, r);
    link.pump().expect("pump");
    same_records(&w1.replica, &c.replica);
    assert!(link.a.is_caught_up() && link.b.is_caught_up());
    (link.a.stats().docs_received, link.b.stats().docs_received)
}

/// A rewind while a feed page waits for the answer to its offer: the page is given up (its
/// cursor belongs to the feed before the rewind), what the server asks for goes on its own,
/// and the feed starts again from the rewound cursor without a protocol error.
#[test]
fn a_rewind_while_a_feed_page_is_offered_gives_the_page_up() {
    let Relayed { _ca, c, w1, r } = relayed_through_the_standby(10, 4);
    let mut link = link(&w1, &c, &r);
    // Run until W01 offers its feed page, and take central's answer.
    let offer = loop {
        let f = link.a.poll_transmit().expect("W01 offers its page");
        if let Frame::Offer { offer, .. } = &f {
            let offer = *offer;
            link.b.handle_frame(f, link.now).expect("offer");
            break offer;
        }
        link.b.handle_frame(f, link.now).expect("frame");
        while let Some(f) = link.b.poll_transmit() {
            link.a.handle_frame(f, link.now).expect("frame");
        }
    };
    let want = loop {
        match link.b.poll_transmit().expect("central answers") {
            f @ Frame::Want { .. } => break f,
            other => link.a.handle_frame(other, link.now).expect("frame"),
        }
    };
    let Frame::Want {
        offer: answered,
        ids,
        ..
    } = &want
    else {
        unreachable!()
    };
    assert_eq!(*answered, offer);
    assert_eq!(ids.len(), 4, "central lacks the four");
    // Central asks W01 to start again from the beginning of its feed (as a central restored
    // from a backup does), and its answer to the offer arrives after.
    link.a
        .handle_frame(
            Frame::Rewind {
                applied_from_you: 0,
            },
            link.now,
        )
        .expect("rewind");
    link.a.handle_frame(want, link.now).expect("want");
    // The four go on their own: no batch claims the cursor of the page given up.
    let batch = loop {
        match link.a.poll_transmit().expect("W01 sends the four") {
            Frame::Batch(b) => break b,
            other => link.b.handle_frame(other, link.now).expect("frame"),
        }
    };
    assert_eq!(
        batch.upto, None,
        "a batch moved the cursor of a page given up"
    );
    assert_eq!(batch.docs.len(), 4);
    deliver_then_converge(&mut link, batch, &w1, &c);
}

/// The offers on a link's wire so far.
fn offers_on(wire: &[Vec<u8>]) -> usize {
    wire.iter()
        .filter(|bytes| {
            let (frame, _) = Frame::split(bytes).expect("decode").expect("whole frame");
            matches!(frame, Frame::Offer { .. })
        })
        .count()
}

/// The other way: a window holds most of a server's relayed records through the other
/// server (after an outage, every window holds the others' records through the standby).
/// Central offers W01 what W02 wrote before sending it, and sends only what W01 lacks.
#[test]
fn relayed_records_are_offered_to_a_window_that_holds_most_of_them() {
    let Relayed { _ca, c, w1, r } = relayed(30, 5, false);
    assert_eq!((w1.replica.records(), c.replica.records()), (30, 35));
    let (w1_received, _) = converge(&w1, &c, &r);
    assert_eq!(
        w1_received, 5,
        "W01 is sent the five it lacked, not the thirty it held"
    );
}

/// A window that lacks what it is offered (new, or back after a long absence) is not made
/// to answer an offer for every page of its sync: after an offer that found too little
/// held, its pages go at once, and it is offered again sixteen pages later.
#[test]
fn a_window_lacking_the_relayed_records_gets_its_pages_without_an_offer_each() {
    let ca = Ca::new();
    let c = ca.mem("central", NodeRole::Central, &[]);
    let w2 = ca.mem("W02", NodeRole::Window, &[DeskRole::Registration]);
    let w3 = ca.mem("W03", NodeRole::Window, &[DeskRole::Registration]);
    let r = ca.anchor();
    for i in 0..160 {
        w2.create(&format!("p{i}"));
    }
    link(&w2, &c, &r).pump().expect("pump");
    // Twenty pages of eight.
    let cfg = SessionConfig {
        batch_docs: 8,
        ..SessionConfig::default()
    };
    let mut link = Link::connect_with(
        (c.replica.clone(), &c.id),
        (w3.replica.clone(), &w3.id),
        &r,
        std::time::Instant::now(),
        cfg,
    );
    link.pump().expect("pump");
    same_records(&c.replica, &w3.replica);
    assert_eq!(link.b.stats().docs_received, 160);
    assert_eq!(
        offers_on(&link.wire),
        2,
        "the first page is offered, the next sixteen go at once, the eighteenth is offered"
    );
}

/// Central asked the standby for W01's emergency record and the standby went away before
/// sending it. W01 offers the same record: central tells it "later" (asked of another node
/// already), W01 offers it again after the rest, and central, still lacking it, asks W01
/// for it then. A record is never left waiting for a peer that went away.
#[test]
fn a_record_asked_of_a_peer_that_went_away_is_asked_again_of_the_next() {
    let ca = Ca::new();
    let c = ca.mem("central", NodeRole::Central, &[]);
    let s = ca.mem("standby", NodeRole::Standby, &[]);
    let w1 = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let r = ca.anchor();
    let episode = EpisodeId::new("YJ-1").expect("valid");
    let ids = emergency(&w1, &episode, 3);
    link(&w1, &s, &r).pump().expect("pump");
    // The standby offers them to central, which asks for them; the standby's link drops
    // before its batch goes.
    let mut to_central = link(&s, &c, &r);
    let mut asked = Vec::new();
    for _ in 0..100 {
        while let Some(f) = to_central.a.poll_transmit() {
            to_central.b.handle_frame(f, to_central.now).expect("frame");
        }
        while let Some(f) = to_central.b.poll_transmit() {
            match f {
                Frame::Want { ids, .. } => asked.extend(ids),
                other => to_central
                    .a
                    .handle_frame(other, to_central.now)
                    .expect("frame"),
            }
        }
        if !asked.is_empty() {
            break;
        }
    }
    let (mut asked, mut ids) = (ids_of_wire(&asked), ids);
    asked.sort();
    ids.sort();
    assert_eq!(asked, ids, "central asks the standby for the three");
    drop(to_central);
    assert_eq!(c.replica.records(), 0);
    // W01 comes: told "later", it offers them again, and sends them when asked.
    let mut from_w1 = link(&w1, &c, &r);
    from_w1.pump().expect("pump");
    same_records(&w1.replica, &c.replica);
    let later: usize = from_w1
        .wire
        .iter()
        .map(|bytes| match Frame::split(bytes).expect("decode") {
            Some((Frame::Want { later, .. }, _)) => later.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(later, 3, "W01 is told later once for each");
    assert_eq!(
        from_w1.b.stats().docs_received,
        3,
        "each once: the feed waits for the ack of what was asked for"
    );
    assert!(from_w1.a.is_caught_up() && from_w1.b.is_caught_up());
}

fn ids_of_wire(ids: &[[u8; 16]]) -> Vec<RecordId> {
    ids.iter().map(|id| RecordId::from_bytes(*id)).collect()
}

/// A peer that answers "later" for ever (hostile, or broken) does not keep a node offering:
/// a record told "later" a second time is sent.
#[test]
fn a_record_told_later_twice_is_sent() {
    let ca = Ca::new();
    let c = ca.mem("central", NodeRole::Central, &[]);
    let w1 = ca.mem("W01", NodeRole::Window, &[DeskRole::Registration]);
    let r = ca.anchor();
    let episode = EpisodeId::new("YJ-1").expect("valid");
    emergency(&w1, &episode, 3);
    let mut link = link(&w1, &c, &r);
    let mut told_later = 0;
    for _ in 0..1_000 {
        let mut moved = false;
        while let Some(f) = link.a.poll_transmit() {
            link.b.handle_frame(f, link.now).expect("frame");
            moved = true;
        }
        while let Some(f) = link.b.poll_transmit() {
            // Central's every answer says "later" for what it asks.
            let f = match f {
                Frame::Want { offer, ids, later } => {
                    told_later += ids.len();
                    Frame::Want {
                        offer,
                        ids: Vec::new(),
                        later: [ids, later].concat(),
                    }
                }
                other => other,
            };
            link.a.handle_frame(f, link.now).expect("frame");
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert_eq!(
        told_later, 6,
        "each is offered twice, told later twice, and sent after the second"
    );
    same_records(&w1.replica, &c.replica);
    assert!(link.a.is_caught_up());
}
