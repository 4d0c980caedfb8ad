//! What core writes as codes, said in the reader's language. Core is language-neutral: it
//! keeps its own English sentence for engineers and logs (a work item's `what`, an episode's
//! `reason`, a refusal's detail) and beside it a code with the parts a sentence is made of
//! (`Pending`, `ReasonCode`, `Refusal::code`). Staff read the sentence these functions make
//! from the code; a record without a code (an older version's) or with a code this version
//! does not know (a newer one's) is said with the text it stored.

use lifeline_core::record::ReasonCode;
use lifeline_core::review::Pending;

use super::{Lang, has, money, t, tr};

/// A work item's pending task, in `l`.
pub fn pending(l: Lang, p: &Pending) -> String {
    match p {
        Pending::EmergencyPrescription {
            status,
            items,
            operator,
            origin,
        } => tr(
            l,
            "pending-emergency_prescription",
            &[
                ("status", status_words(l, status).into()),
                ("items", (*items).into()),
                ("operator", operator.to_string().into()),
                ("origin", origin.to_string().into()),
            ],
        ),
        Pending::PausedRegistration {
            registration_no,
            department,
        } => tr(
            l,
            "pending-paused_registration",
            &[
                ("no", registration_no.into()),
                ("department", department.into()),
            ],
        ),
        Pending::SelfPaid { amount, due } => match due {
            Some(due) => tr(
                l,
                "pending-self_paid-due",
                &[
                    ("amount", money(*amount).into()),
                    ("due", due.to_string().into()),
                ],
            ),
            None => tr(
                l,
                "pending-self_paid-after",
                &[("amount", money(*amount).into())],
            ),
        },
        Pending::HisRefused {
            revision,
            table,
            reason,
        } => tr(
            l,
            "pending-his_refused",
            &[
                ("revision", (*revision).into()),
                ("table", table.into()),
                ("reason", reason.into()),
            ],
        ),
        Pending::Conflict {
            kind,
            record_kind,
            field,
            values,
        } => {
            let mut s = tr(
                l,
                "pending-conflict",
                &[
                    ("kind", t(l, &format!("report-kind-{}", kind.name())).into()),
                    (
                        "record",
                        tr(
                            l,
                            &format!("report-record-{}", record_kind.name()),
                            &[("count", 1_u64.into())],
                        )
                        .into(),
                    ),
                ],
            );
            if let Some(field) = field {
                s.push(' ');
                s.push_str(field);
            }
            if !values.is_empty() {
                let values: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!("{i} {v}"))
                    .collect();
                s.push_str(&tr(
                    l,
                    "pending-conflict-values",
                    &[(
                        "values",
                        values.join(t(l, "report-clause-separator").as_str()).into(),
                    )],
                ));
            }
            s
        }
    }
}

/// A status by its name (`issued`), in `l`; the name itself if the catalogs lack it.
fn status_words(l: Lang, name: &str) -> String {
    let key = format!("status-{name}");
    if has(&key) {
        t(l, &key)
    } else {
        name.to_owned()
    }
}

/// Why an episode opened, in `l`: from its code when this version knows it, else the words
/// the episode stored.
pub fn episode_reason(l: Lang, reason: &str, code: Option<&ReasonCode>) -> String {
    let Some(code) = code else {
        return reason.to_owned();
    };
    let key = format!("episode-reason-{}", code.code);
    if !ReasonCode::ALL.contains(&code.code.as_str()) || !has(&key) {
        return reason.to_owned();
    }
    match code.seconds {
        Some(s) => tr(l, &key, &[("seconds", s.into())]),
        None if code.code == ReasonCode::CENTRAL_IN_OUTAGE => t(l, &key),
        // A duration the code needs is missing: the stored words say it.
        None => reason.to_owned(),
    }
}

/// Why a peer's record was refused, by the refusal's code, in `l`; the code itself for one
/// this version has no words for.
pub fn refusal(l: Lang, code: &str) -> String {
    let key = format!("refusal-{code}");
    if has(&key) {
        t(l, &key)
    } else {
        code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use lifeline_core::record::RecordKind;
    use lifeline_core::review::ConflictKind;
    use lifeline_core::store::Refusal;
    use lifeline_core::{Date, Fen, NodeName, OperatorName};

    use super::*;

    fn node(s: &str) -> NodeName {
        NodeName::new(s.to_owned()).expect("a node name")
    }

    #[test]
    fn every_code_core_gives_has_its_words() {
        for code in Refusal::CODES {
            assert!(has(&format!("refusal-{code}")), "refusal-{code}");
        }
        for code in ReasonCode::ALL {
            assert!(
                has(&format!("episode-reason-{code}")),
                "episode-reason-{code}"
            );
        }
    }

    #[test]
    fn work_items_are_said_in_either_language() {
        let rx = Pending::EmergencyPrescription {
            status: "issued",
            items: 2,
            operator: OperatorName::new("li.doctor".to_owned()).expect("a name"),
            origin: node("W03"),
        };
        assert_eq!(
            pending(Lang::Zh, &rx),
            "应急处方（已开具），共 2 项，由 li.doctor 在 W03 开具"
        );
        assert_eq!(
            pending(Lang::En, &rx),
            "emergency prescription (issued), 2 items, written by li.doctor on W03"
        );
        let paid = Pending::SelfPaid {
            amount: Fen(1280),
            due: Some(Date::new(2026, 12, 11).expect("a date")),
        };
        assert_eq!(
            pending(Lang::Zh, &paid),
            "医保结算失败，已按自费收取 ¥12.80；须于 2026-12-11 前重新结算"
        );
        assert!(pending(Lang::En, &paid).contains("re-settle by 2026-12-11"));
        let later = Pending::SelfPaid {
            amount: Fen(500),
            due: None,
        };
        assert!(pending(Lang::Zh, &later).contains("应急结束后 7 个工作日内"));
        let visit = Pending::PausedRegistration {
            registration_no: "YJ-W03-0007".into(),
            department: "内科".into(),
        };
        assert_eq!(
            pending(Lang::Zh, &visit),
            "暂缓的应急挂号 YJ-W03-0007（内科）"
        );
        let his = Pending::HisRefused {
            revision: 3,
            table: "yj_patient".into(),
            reason: "id_no invalid".into(),
        };
        assert_eq!(
            pending(Lang::Zh, &his),
            "HIS 拒绝导入 yj_patient 第 3 版：id_no invalid"
        );
        let conflict = Pending::Conflict {
            kind: ConflictKind::FieldConflict,
            record_kind: RecordKind::Patient,
            field: Some("phone".into()),
            values: vec!["\"138\"".into(), "\"139\"".into()],
        };
        assert_eq!(
            pending(Lang::Zh, &conflict),
            "字段冲突：患者 phone，候选值：0 \"138\"；1 \"139\""
        );
        assert_eq!(
            pending(Lang::En, &conflict),
            "Field conflict: patient phone, values: 0 \"138\"; 1 \"139\""
        );
    }

    #[test]
    fn episode_reasons_come_from_their_code_or_the_stored_words() {
        let code = ReasonCode {
            code: ReasonCode::CENTRAL_UNREACHABLE.into(),
            seconds: Some(45),
        };
        let stored = "central unreachable for 45 s";
        assert_eq!(
            episode_reason(Lang::Zh, stored, Some(&code)),
            "中心服务器连续 45 秒无法连接"
        );
        assert_eq!(episode_reason(Lang::En, stored, Some(&code)), stored);
        // An older record has no code; a newer one may have a code this version lacks.
        assert_eq!(episode_reason(Lang::Zh, stored, None), stored);
        let unknown = ReasonCode {
            code: "power_cut".into(),
            seconds: None,
        };
        assert_eq!(
            episode_reason(Lang::Zh, "power cut", Some(&unknown)),
            "power cut"
        );
        let joined = ReasonCode {
            code: ReasonCode::CENTRAL_IN_OUTAGE.into(),
            seconds: None,
        };
        assert_eq!(
            episode_reason(
                Lang::Zh,
                "central is in an emergency episode",
                Some(&joined)
            ),
            "中心服务器已进入应急状态"
        );
    }

    #[test]
    fn refusals_are_said_by_their_code() {
        assert_eq!(refusal(Lang::Zh, "bad_signature"), "签名无效");
        assert_eq!(refusal(Lang::En, "bad_signature"), "invalid signature");
        assert_eq!(refusal(Lang::Zh, "from_the_future"), "from_the_future");
    }
}
