"""One round of the crash-safety test (run by scripts/crash-safety.sh).

    driver.py drive        ENDPOINT STATE SECONDS   writes until killed (or SECONDS), saves STATE
    driver.py verify-spool -        STATE DATA_DIR  with the server down: integrity, chat records
    driver.py verify       ENDPOINT STATE           against the restarted server

`drive` runs concurrent writers against a server that crash-safety.sh kills with SIGKILL at a
random moment:

* control-plane writers (boto3, no retries), each on resources only it touches: CreateRoom,
  UpdateRoom, TagResource, UntagResource, DeleteRoom, CreateLoggingConfiguration,
  UpdateLoggingConfiguration, DeleteLoggingConfiguration. A write answered 2xx is
  *acknowledged*: its effect must survive. A write whose answer never came (the kill cut it
  off) is *in doubt*: either outcome is allowed, nothing else.
* a chat writer: a WebSocket connection to a room whose logging configuration points at a
  destination that is down (the server runs with --aws-endpoint http://127.0.0.1:9), sending
  SEND_MESSAGE; every MESSAGE frame the server sends back is an acknowledged chat log record,
  and so is the id of every SendEvent answered 200. All of them must be in spool.db.

State (JSON) carries every resource's acknowledged state and every acknowledged chat record id
across rounds: the data directory persists, so each round also re-checks what earlier rounds
wrote. `verify-spool` runs while the server is down (integrity_check of ivschat.db and
spool.db, acknowledged chat records in spool.db); `verify` checks the control plane through
the API of the restarted server.
"""

import json
import os
import random
import sqlite3
import string
import subprocess
import sys
import threading
import time

import boto3
import botocore.config
import botocore.exceptions

REGION = "us-east-1"
WRITERS = 3
CHAT_CONNECTIONS = 2
MAX_ROOMS_PER_WRITER = 150


def client(endpoint):
    return boto3.client(
        "ivschat",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


def rand_name(n=8):
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))


def load_state(path):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {"resources": {}, "chat": {"room": None, "logging": None, "records": []}, "rounds": 0}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------- drive


class Stop(Exception):
    pass


class Writer(threading.Thread):
    """Writes to its own resources until the server goes away or time runs out.

    `resources[arn]` is {"kind", "acked": state or None (absent), "doubt": [states]}, where a
    state is {"name": …, "tags": {…}} (rooms) or {"name": …} (logging configurations).
    """

    def __init__(self, endpoint, resources, deadline, lock, counts, logging_ops, maybe_created):
        super().__init__(daemon=True)
        self.logging_ops = logging_ops
        self.maybe_created = maybe_created
        self.c = client(endpoint)
        self.resources = resources
        self.deadline = deadline
        self.lock = lock
        self.counts = counts
        self.mine = [arn for arn, r in resources.items() if r["acked"] is not None]

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def call(self, doubt_arn, doubt_state, fn, **kwargs):
        """Calls fn; an answer that never came leaves `doubt_state` possible for `doubt_arn`
        (for a create: `doubt_arn` is None and `doubt_state` says what may have been created)."""
        try:
            return getattr(self.c, fn)(**kwargs)
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as e:
            with self.lock:
                if doubt_arn is not None:
                    self.resources[doubt_arn]["doubt"].append(doubt_state)
                else:
                    self.maybe_created.append(doubt_state)
            self.count("in_doubt")
            raise Stop() from e

    def set_acked(self, arn, state):
        with self.lock:
            self.resources[arn]["acked"] = state
        self.count("acknowledged")

    def live_logging(self):
        return sum(
            1 for r in self.resources.values()
            if r["kind"] == "logging" and (r["acked"] is not None or r["doubt"])
        )

    def run(self):
        try:
            while time.time() < self.deadline:
                self.step()
        except Stop:
            pass
        except Exception as e:  # any other failure is a test failure
            with self.lock:
                self.counts.setdefault("errors", []).append(repr(e))

    def step(self):
        rooms = [a for a in self.mine if self.resources[a]["kind"] == "room"]
        logs = [a for a in self.mine if self.resources[a]["kind"] == "logging"]
        op = random.choices(
            ["create_room", "update_room", "tag", "untag", "delete_room",
             "create_logging", "update_logging", "delete_logging"],
            weights=[4, 4, 4, 2, 2] + ([2, 2, 2] if self.logging_ops else [0, 0, 0]),
        )[0]
        if op == "create_room" and len(rooms) >= MAX_ROOMS_PER_WRITER:
            op = "delete_room"  # keeps each round's verification short over 100 rounds
        if op == "create_room" or (not rooms and op in ("update_room", "tag", "untag", "delete_room")):
            name, tags = rand_name(), {"k" + rand_name(3): rand_name(5)}
            # A create whose answer is lost has no ARN yet: its unique name finds it.
            r = self.call(None, {"kind": "room", "name": name, "tags": tags}, "create_room",
                          name=name, tags=tags)
            arn = r["arn"]
            with self.lock:
                self.resources[arn] = {"kind": "room", "acked": None, "doubt": []}
            self.set_acked(arn, {"name": name, "tags": tags})
            self.mine.append(arn)
        elif op == "update_room":
            arn = random.choice(rooms)
            cur = self.resources[arn]["acked"]
            new = {**cur, "name": rand_name()}
            self.call(arn, new, "update_room", identifier=arn, name=new["name"])
            self.set_acked(arn, new)
        elif op == "tag":
            arn = random.choice(rooms)
            cur = self.resources[arn]["acked"]
            key = "k" + rand_name(3)
            new = {**cur, "tags": {**cur["tags"], key: rand_name(5)}}
            if len(new["tags"]) > 40:
                return
            self.call(arn, new, "tag_resource", resourceArn=arn, tags={key: new["tags"][key]})
            self.set_acked(arn, new)
        elif op == "untag":
            arn = random.choice(rooms)
            cur = self.resources[arn]["acked"]
            if not cur["tags"]:
                return
            key = random.choice(sorted(cur["tags"]))
            new = {**cur, "tags": {k: v for k, v in cur["tags"].items() if k != key}}
            self.call(arn, new, "untag_resource", resourceArn=arn, tagKeys=[key])
            self.set_acked(arn, new)
        elif op == "delete_room":
            arn = random.choice(rooms)
            self.call(arn, None, "delete_room", identifier=arn)
            self.set_acked(arn, None)
            self.mine.remove(arn)
        elif op == "create_logging" or (not logs and op in ("update_logging", "delete_logging")):
            # The quota is 10: the chat room's one, at most 5 here, one in doubt.
            if self.live_logging() >= 5:
                return
            name = rand_name()
            r = self.call(None, {"kind": "logging", "name": name}, "create_logging_configuration", name=name,
                          destinationConfiguration={"firehose": {"deliveryStreamName": "crash-" + rand_name(4)}})
            arn = r["arn"]
            with self.lock:
                self.resources[arn] = {"kind": "logging", "acked": None, "doubt": []}
            self.set_acked(arn, {"name": name})
            self.mine.append(arn)
        elif op == "update_logging":
            arn = random.choice(logs)
            new = {"name": rand_name()}
            self.call(arn, new, "update_logging_configuration", identifier=arn, name=new["name"])
            self.set_acked(arn, new)
        elif op == "delete_logging":
            arn = random.choice(logs)
            self.call(arn, None, "delete_logging_configuration", identifier=arn)
            self.set_acked(arn, None)
            self.mine.remove(arn)


def chat_writer(endpoint, state, deadline, lock, counts, user):
    """Sends SEND_MESSAGE frames and SendEvent requests. Every MESSAGE or EVENT frame the
    server delivers, and every SendEvent answered 200, is an acknowledged chat log record."""
    import websockets.sync.client as ws_client

    c = client(endpoint)
    room = state["chat"]["room"]
    acked = set()
    try:
        token = c.create_chat_token(roomIdentifier=room, userId=user, capabilities=["SEND_MESSAGE"])["token"]
        ws_url = endpoint.replace("http://", "ws://") + "/"
        with ws_client.connect(ws_url, subprotocols=[token], open_timeout=5, close_timeout=1) as ws:
            n = 0
            while time.time() < deadline:
                n += 1
                rid = f"{user}-{n}"
                ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": rid, "Content": f"m{n}"}))
                while True:
                    frame = json.loads(ws.recv(timeout=10))
                    if frame.get("Type") in ("MESSAGE", "EVENT"):
                        acked.add(frame["Id"])
                    if frame.get("RequestId") == rid:
                        if frame.get("Type") == "ERROR":
                            time.sleep(0.1)  # 429: the connection's 10 requests per second
                        break
                if n % 5 == 0:
                    acked.add(c.send_event(roomIdentifier=room, eventName="crash")["id"])
    except Exception:
        pass  # the kill ends the connection; everything acknowledged so far is recorded
    with lock:
        # Both connections are in the room, so both see every frame: count each record once.
        new = acked - set(state["chat"]["records"])
        state["chat"]["records"].extend(sorted(new))
        counts["chat_acknowledged"] = counts.get("chat_acknowledged", 0) + len(new)


def setup_chat(endpoint, state):
    if state["chat"]["room"]:
        return
    c = client(endpoint)
    lc = c.create_logging_configuration(
        name="crash-chat", destinationConfiguration={"firehose": {"deliveryStreamName": "crash-chat"}})
    room = c.create_room(name="crash-chat", loggingConfigurationIdentifiers=[lc["arn"]],
                         maximumMessageRatePerSecond=100)
    state["chat"]["logging"] = lc["arn"]
    state["chat"]["room"] = room["arn"]


def drive(endpoint, state_path, seconds):
    state = load_state(state_path)
    setup_chat(endpoint, state)
    save_state(state_path, state)  # the chat room exists even if this round's kill comes early
    print("ready", flush=True)      # crash-safety.sh starts its kill timer here
    deadline = time.time() + seconds
    lock = threading.Lock()
    counts = {}
    # Rooms are split between writers; new ones belong to their creator. Writer 0 alone
    # handles logging configurations, so that their quota (10) is never reached.
    rooms = sorted(a for a, r in state["resources"].items() if r["kind"] == "room")
    random.shuffle(rooms)
    logging = {a: r for a, r in state["resources"].items() if r["kind"] == "logging"}
    maybe_created = state.setdefault("maybe_created", [])
    writers = []
    for i in range(WRITERS):
        mine = {a: state["resources"][a] for a in rooms[i::WRITERS]}
        if i == 0:
            mine.update(logging)
        writers.append(Writer(endpoint, mine, deadline, lock, counts, i == 0, maybe_created))
    chats = [
        threading.Thread(target=chat_writer, args=(endpoint, state, deadline, lock, counts, f"u{i}"), daemon=True)
        for i in range(CHAT_CONNECTIONS)
    ]
    threads = writers + chats
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        state["resources"].update(w.resources)
    state["last_counts"] = counts
    save_state(state_path, state)
    errors = counts.get("errors", [])
    print(json.dumps({k: v for k, v in counts.items() if k != "errors"}), flush=True)
    if errors:
        sys.exit("writer errors: " + "; ".join(errors[:5]))


# ------------------------------------------------------------------------------ verify


def integrity(db):
    """`PRAGMA integrity_check` with the sqlite3 CLI when there is one, else Python's sqlite3."""
    try:
        out = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True,
                             text=True, timeout=120, check=False)
        if out.returncode == 0:
            return out.stdout.strip()
    except FileNotFoundError:
        pass
    with sqlite3.connect(db) as conn:
        return "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def verify_spool(state, data_dir):
    """spool.db and ivschat.db are intact, and every acknowledged chat record is spooled."""
    problems = []
    for name in ("ivschat.db", "spool.db"):
        result = integrity(os.path.join(data_dir, name))
        if result != "ok":
            problems.append(f"{name}: integrity_check says {result[:300]!r}")
    ids = set()
    with sqlite3.connect(os.path.join(data_dir, "spool.db")) as conn:
        for (body,) in conn.execute("SELECT body FROM records"):
            ids.add(json.loads(body)["payload"]["Id"])
    missing = [i for i in state["chat"]["records"] if i not in ids]
    if missing:
        problems.append(f"{len(missing)} acknowledged chat records missing from spool.db, e.g. {missing[:3]}")
    return problems, len(state["chat"]["records"]), len(ids)


def actual_room(c, arn):
    try:
        room = c.get_room(identifier=arn)
    except c.exceptions.ResourceNotFoundException:
        return None
    tags = c.list_tags_for_resource(resourceArn=arn)["tags"]
    return {"name": room["name"], "tags": tags}


def actual_logging(c, arn):
    try:
        lc = c.get_logging_configuration(identifier=arn)
    except c.exceptions.ResourceNotFoundException:
        return None
    return {"name": lc["name"]}


def list_all(fn, key):
    """Every item of a List operation, following nextToken (botocore has no paginator here)."""
    token = None
    while True:
        page = fn(maxResults=50, **({"nextToken": token} if token else {}))
        yield from page[key]
        token = page.get("nextToken")
        if not token:
            return


def adopt_maybe_created(c, state):
    """A create cut off by the kill may or may not have happened: if it did, its resource
    (found by its unique name) joins the state with what the create asked for."""
    maybe = state.get("maybe_created", [])
    if not maybe:
        return []
    problems = []
    rooms = {}
    for room in list_all(c.list_rooms, "rooms"):
        rooms.setdefault(room.get("name", ""), []).append(room["arn"])
    logs = {}
    for lc in list_all(c.list_logging_configurations, "loggingConfigurations"):
        logs.setdefault(lc.get("name", ""), []).append(lc["arn"])
    for m in maybe:
        found = (rooms if m["kind"] == "room" else logs).get(m["name"], [])
        if len(found) > 1:
            problems.append(f"a create in doubt made {len(found)} resources named {m['name']}")
        for arn in found:
            want = {"name": m["name"], "tags": m["tags"]} if m["kind"] == "room" else {"name": m["name"]}
            state["resources"][arn] = {"kind": m["kind"], "acked": want, "doubt": []}
    state["maybe_created"] = []
    return problems


def verify_api(endpoint, state):
    c = client(endpoint)
    problems = adopt_maybe_created(c, state)
    for arn in (state["chat"]["room"], state["chat"]["logging"]):
        if arn:
            try:
                (c.get_room if ":room/" in arn else c.get_logging_configuration)(identifier=arn)
            except c.exceptions.ResourceNotFoundException:
                problems.append(f"{arn} (chat logging room) is gone")
    checked = 0
    for arn, r in sorted(state["resources"].items()):
        actual = actual_room(c, arn) if r["kind"] == "room" else actual_logging(c, arn)
        allowed = [r["acked"]] + r["doubt"]
        checked += 1
        if actual not in allowed:
            problems.append(f"{arn}: is {actual}, acknowledged {r['acked']}, in doubt {r['doubt']}")
            continue
        # What the server has now is the baseline of the next round.
        r["acked"], r["doubt"] = actual, []
    # Resources that ended absent are done with.
    state["resources"] = {a: r for a, r in state["resources"].items() if r["acked"] is not None}
    return problems, checked


def main():
    cmd = sys.argv[1]
    if cmd == "drive":
        drive(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "verify-spool":  # ENDPOINT is unused; the server is down
        state = load_state(sys.argv[3])
        problems, acked, spooled = verify_spool(state, sys.argv[4])
        if problems:
            sys.exit("\n".join(problems))
        print(f"spool: all {acked} acknowledged chat records are in spool.db ({spooled} records); "
              "integrity_check ok for ivschat.db and spool.db")
    elif cmd == "verify":
        state_path = sys.argv[3]
        state = load_state(state_path)
        problems, checked = verify_api(sys.argv[2], state)
        if problems:
            sys.exit("\n".join(problems))
        state["rounds"] += 1
        save_state(state_path, state)
        print(f"control plane: {checked} resources as acknowledged (or as an in-doubt write left them)")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
