"""A Telethon client at layer 204, driven by tests/layer204.rs.

Telethon (tulir-telethon 1.99.0a6, the one mautrix-telegram 0.15.3 pins)
is another MTProto client than grammers, at another layer. It talks to the
test server with an auth key the test registered, so no key exchange.

Usage: python layer204_client.py PORT KEY_HEX PHONE
It prints one JSON object per step; it reads the login code from stdin.
"""

import asyncio
import json
import sys

from telethon import TelegramClient, events
from telethon.crypto import AuthKey
from telethon.sessions import MemorySession
from telethon.tl.alltlobjects import LAYER


def say(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


async def read_line():
    loop = asyncio.get_running_loop()
    return (await loop.run_in_executor(None, sys.stdin.readline)).strip()


async def main():
    port, key_hex, phone = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    session = MemorySession()
    session.set_dc(2, "127.0.0.1", port)
    session.auth_key = AuthKey(bytes.fromhex(key_hex))
    client = TelegramClient(
        session, 12345, "0123456789abcdef0123456789abcdef", request_retries=1
    )
    incoming = asyncio.Queue()

    @client.on(events.NewMessage(incoming=True))
    async def on_message(event):
        await incoming.put(event)

    await client.connect()
    say("connected", layer=LAYER, authorized=await client.is_user_authorized())

    await client.send_code_request(phone)
    say("code_sent")
    try:
        await client.sign_in(phone, "00000")
        say("wrong_code_accepted")
    except Exception as e:  # noqa: BLE001: the error's name is the result
        say("wrong_code", error=type(e).__name__)
    me = await client.sign_in(phone, await read_line())
    say("signed_in", id=me.id, first_name=me.first_name, username=me.username)

    sent = await client.send_message("bob", "hello from layer 204")
    say("sent", id=sent.id, text=sent.message)
    edited = await client.edit_message("bob", sent.id, "hello again from layer 204")
    say("edited", id=edited.id, text=edited.message)

    event = await asyncio.wait_for(incoming.get(), 20)
    say("received", text=event.raw_text, sender=event.sender_id)
    await client.send_read_acknowledge(event.chat_id, event.message)
    say("read")

    dialogs = await client.get_dialogs()
    say("dialogs", names=[d.name for d in dialogs])
    history = await client.get_messages("bob", limit=10)
    say("history", texts=[m.message for m in history])
    await client.delete_messages("bob", [sent.id])
    say("deleted", id=sent.id)
    await client.disconnect()


asyncio.run(main())
