use super::*;

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: a@b\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
}

fn fold(s: &str) -> String {
    crate::search::fold::fold(s)
}

#[test]
fn narrows_to_messages_with_every_trigram_and_survives_reload() {
    let dir = tempfile::tempdir().unwrap();
    let mails: Vec<Vec<u8>> = (1..=50)
        .map(|i| {
            msg(
                &format!("note {i}"),
                if i % 10 == 0 {
                    "the zebra crossing"
                } else {
                    "plain words here"
                },
            )
        })
        .collect();
    let uids: Vec<u32> = (1..=50).collect();
    let mut reads = 0;
    let mut read = |u: u32| {
        reads += 1;
        Some(mails[u as usize - 1].clone())
    };
    let c = candidates(
        dir.path(),
        7,
        &uids,
        &uids,
        &[vec![fold("zebra")]],
        &mut read,
    )
    .unwrap();
    assert_eq!(c, vec![10, 20, 30, 40, 50]);
    assert_eq!(reads, 50);
    // A second search reads nothing.
    let mut none = |_u: u32| -> Option<Vec<u8>> { panic!("index should be complete") };
    let c = candidates(
        dir.path(),
        7,
        &uids,
        &uids,
        &[vec![fold("ZEBRA cross")]],
        &mut none,
    )
    .unwrap();
    assert_eq!(c, vec![10, 20, 30, 40, 50]);
    // OR within a clause; short strings give no clause.
    let c = candidates(
        dir.path(),
        7,
        &uids,
        &uids,
        &[vec![fold("zebra"), fold("note 7")]],
        &mut none,
    )
    .unwrap();
    assert!(c.contains(&7) && c.contains(&10), "{c:?}");
    assert!(candidates(dir.path(), 7, &uids, &uids, &[vec![fold("ze")]], &mut none).is_none());
    // From disk in a fresh index.
    let fresh = Index::open(dir.path(), 7);
    assert_eq!(
        fresh.containing_all(&needle_trigrams(&fold("zebra"))),
        vec![10, 20, 30, 40, 50]
    );
}

#[test]
fn new_mail_is_indexed_and_expunged_mail_drops_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut store: HashMap<u32, Vec<u8>> = (1..=5).map(|u| (u, msg("x", "alpha"))).collect();
    let uids: Vec<u32> = (1..=5).collect();
    let mut read = |u: u32| store.get(&u).cloned();
    assert_eq!(
        candidates(
            dir.path(),
            1,
            &uids,
            &uids,
            &[vec![fold("alpha")]],
            &mut read
        )
        .unwrap(),
        uids
    );
    store.insert(6, msg("x", "beta gamma"));
    let uids: Vec<u32> = vec![2, 3, 6];
    let mut read = |u: u32| store.get(&u).cloned();
    assert_eq!(
        candidates(
            dir.path(),
            1,
            &uids,
            &uids,
            &[vec![fold("gamma")]],
            &mut read
        )
        .unwrap(),
        vec![6]
    );
    assert_eq!(
        candidates(
            dir.path(),
            1,
            &uids,
            &uids,
            &[vec![fold("alpha")]],
            &mut read
        )
        .unwrap(),
        vec![2, 3]
    );
    // A new UIDVALIDITY starts over.
    let mut read = |u: u32| store.get(&u).cloned();
    assert_eq!(
        candidates(dir.path(), 2, &[6], &[6], &[vec![fold("alpha")]], &mut read).unwrap(),
        Vec::<u32>::new()
    );
}

#[test]
fn damaged_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mails: Vec<Vec<u8>> = (1..=3).map(|_| msg("x", "omega")).collect();
    let uids: Vec<u32> = vec![1, 2, 3];
    let mut read = |u: u32| Some(mails[u as usize - 1].clone());
    candidates(
        dir.path(),
        3,
        &uids,
        &uids,
        &[vec![fold("omega")]],
        &mut read,
    )
    .unwrap();
    std::fs::write(dir.path().join(DIR).join("delta"), b"RFTS0001garbage").unwrap();
    let ix = Index::open(dir.path(), 3);
    assert!(!ix.has(1));
}
