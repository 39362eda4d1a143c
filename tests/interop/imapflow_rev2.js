// An IMAP4rev2 session through imapflow (npm), which sends
// ENABLE IMAP4rev2 when the server offers it. Run by tests/wire/rev2.rs
// when ROOST_IMAPFLOW names a node_modules directory that has imapflow;
// prints "imapflow rev2 ok" when every check passed.
'use strict';
const path = require('path');
const modules = process.env.ROOST_IMAPFLOW;
const { ImapFlow } = require(modules ? path.join(modules, 'imapflow') : 'imapflow');
const assert = require('assert');

const port = Number(process.argv[2]);
const user = process.argv[3] || 'alice';
const pass = process.argv[4] || 'secret';

async function main() {
    const client = new ImapFlow({
        host: '127.0.0.1',
        port,
        secure: false,
        doSTARTTLS: false,
        auth: { user, pass },
        logger: false
    });
    await client.connect();
    assert.ok([...client.enabled].some(e => e.toUpperCase() === 'IMAP4REV2'), 'IMAP4rev2 enabled: ' + [...client.enabled]);

    await client.mailboxCreate('Größe');
    await client.append('Größe', 'Subject: one\r\n\r\nfirst\r\n', ['\\Seen']);
    await client.append('Größe', 'Subject: two\r\n\r\nsecond\r\n', []);
    await client.append('Größe', 'Subject: three\r\n\r\nthird\r\n', ['\\Deleted']);

    const listed = await client.list();
    assert.ok(listed.some(m => m.path === 'Größe'), 'listed: ' + listed.map(m => m.path));

    const status = await client.status('Größe', { messages: true, unseen: true, deleted: true });
    assert.strictEqual(status.messages, 3);
    assert.strictEqual(status.unseen, 2);
    assert.strictEqual(status.deleted, 1, JSON.stringify(status, (k, v) => (typeof v === 'bigint' ? String(v) : v)));

    const lock = await client.getMailboxLock('Größe');
    try {
        assert.strictEqual(client.mailbox.exists, 3);
        const unseen = await client.search({ seen: false }, { uid: true });
        assert.deepStrictEqual(unseen, [2, 3]);
        const all = await client.search({ all: true });
        assert.deepStrictEqual(all, [1, 2, 3]);
        for await (const msg of client.fetch('1:*', { flags: true, uid: true })) {
            assert.ok(!msg.flags.has('\\Recent'), 'no \\Recent under rev2: ' + [...msg.flags]);
        }
        await client.messageFlagsAdd({ uid: '2' }, ['\\Flagged'], { uid: true });
        const flagged = await client.search({ flagged: true }, { uid: true });
        assert.deepStrictEqual(flagged, [2]);
        const moved = await client.messageMove('2', 'INBOX', { uid: true });
        assert.ok(moved && moved.uidMap && moved.uidMap.get(2), 'COPYUID for MOVE');
    } finally {
        lock.release();
    }
    const inbox = await client.status('INBOX', { messages: true });
    assert.strictEqual(inbox.messages, 1);
    await client.logout();
    console.log('imapflow rev2 ok');
}

main().catch(err => {
    console.error(err);
    process.exit(1);
});
