use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reads);
    let read: Reader = Box::new(move |u: u32| {
        counted.fetch_add(1, Ordering::Relaxed);
        Some(mails[u as usize - 1].clone())
    });
    let c = candidates(dir.path(), 7, &uids, &uids, &[vec![fold("zebra")]], read).unwrap();
    assert_eq!(c, vec![10, 20, 30, 40, 50]);
    assert_eq!(reads.load(Ordering::Relaxed), 50);
    // A second search reads nothing.
    let none = || -> Reader { Box::new(|_u: u32| panic!("index should be complete")) };
    let c = candidates(
        dir.path(),
        7,
        &uids,
        &uids,
        &[vec![fold("ZEBRA cross")]],
        none(),
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
        none(),
    )
    .unwrap();
    assert!(c.contains(&7) && c.contains(&10), "{c:?}");
    assert!(candidates(dir.path(), 7, &uids, &uids, &[vec![fold("ze")]], none()).is_none());
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
    let reader = |store: &HashMap<u32, Vec<u8>>| -> Reader {
        let store = store.clone();
        Box::new(move |u: u32| store.get(&u).cloned())
    };
    assert_eq!(
        candidates(
            dir.path(),
            1,
            &uids,
            &uids,
            &[vec![fold("alpha")]],
            reader(&store)
        )
        .unwrap(),
        uids
    );
    store.insert(6, msg("x", "beta gamma"));
    let uids: Vec<u32> = vec![2, 3, 6];

    assert_eq!(
        candidates(
            dir.path(),
            1,
            &uids,
            &uids,
            &[vec![fold("gamma")]],
            reader(&store)
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
            reader(&store)
        )
        .unwrap(),
        vec![2, 3]
    );
    // A new UIDVALIDITY starts over.

    assert_eq!(
        candidates(
            dir.path(),
            2,
            &[6],
            &[6],
            &[vec![fold("alpha")]],
            reader(&store)
        )
        .unwrap(),
        Vec::<u32>::new()
    );
}

#[test]
fn damaged_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mails: Vec<Vec<u8>> = (1..=3).map(|_| msg("x", "omega")).collect();
    let uids: Vec<u32> = vec![1, 2, 3];
    let read: Reader = Box::new(move |u: u32| Some(mails[u as usize - 1].clone()));
    candidates(dir.path(), 3, &uids, &uids, &[vec![fold("omega")]], read).unwrap();
    std::fs::write(dir.path().join(DIR).join("delta"), b"RFTS0001garbage").unwrap();
    let ix = Index::open(dir.path(), 3);
    assert_eq!(ix.missing(&[1]), [1]);
}

/// A search facing a large backlog does not wait for the index: it gets
/// no narrowing (and reads the mailbox) while a thread builds the index,
/// which later searches then use.
#[test]
fn a_large_backlog_is_indexed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let n = BUILD_BEHIND as u32 + 200;
    let mails: Arc<Vec<Vec<u8>>> = Arc::new(
        (1..=n)
            .map(|i| msg("x", if i % 100 == 0 { "a zebra" } else { "plain" }))
            .collect(),
    );
    let reader = || -> Reader {
        let m = Arc::clone(&mails);
        Box::new(move |u: u32| Some(m[u as usize - 1].clone()))
    };
    let uids: Vec<u32> = (1..=n).collect();
    let zebra = [vec![fold("zebra")]];
    assert!(candidates(dir.path(), 4, &uids, &uids, &zebra, reader()).is_none());
    let want: Vec<u32> = (1..=n).filter(|u| u % 100 == 0).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(c) = candidates(dir.path(), 4, &uids, &uids, &zebra, reader()) {
            assert_eq!(c, want);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never indexed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
