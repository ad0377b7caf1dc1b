#!/usr/bin/env python3
"""Interop scenarios: the official RocketMQ 5 Python client against raftmq.

    interop.py NAMESRV SCENARIO TOPIC GROUP COUNT

Run by tests/tests/python_interop.rs, or by hand against a running cluster
(bin/dledger/fast-try.sh start). Scenarios:

  tags       COUNT messages, tag TagA (even) / TagB (odd), two keys and user
             properties each; a SimpleConsumer on TagA gets exactly the even
             ones, every field intact, acks them, then gets nothing more.
  redeliver  COUNT messages received and not acked come back, same ids, with
             delivery attempt 2 after the invisible duration; acked, they
             stay gone.
  push       a PushConsumer (listener returns SUCCESS) sees all COUNT
             messages, half sent before it starts and half after.
  failover   a producer sends COUNT messages at a steady pace (retrying
             failed sends) while a SimpleConsumer receives and acks; the
             caller kills the leader broker mid-run. Every acknowledged
             message must be received.
  delay      COUNT messages with delivery times 2..8 s ahead and a few
             normal ones: none received before its due time, each once,
             lateness reported; a time 4 days ahead (and the client's
             documented milliseconds, which it sends as seconds) refused.
             Failures are collected and all reported.
  transaction  COUNT transactions committed, COUNT rolled back, COUNT left
             open by a producer that shuts down; a second producer's checker
             resolves those by their `outcome` property. Exactly the
             committed ones are received; a second end is checked. The
             broker needs a short transactionTimeOut/transactionCheckInterval.
  tx_failover  COUNT half messages, then `PROGRESS halves=COUNT`; the caller
             kills the leader and creates $HOME/go once a new one stands;
             even ones are committed, odd ones rolled back (retried until
             the route names the new leader). Exactly the committed ones
             are received.
  fifo       COUNT messages in each of 4 message groups, sent in turn, to a
             consumer group the caller created FIFO (mqadmin updateSubGroup
             -o true), and GROUP + "Push" likewise. A SimpleConsumer holds
             one message of the first group unacked: no later message of
             that group comes until it is delivered again (attempt 2) and
             acked, while the other groups go on; every group's first
             deliveries come in send order. Then a PushConsumer of the
             second consumer group (FIFO from the server's Settings) sees
             each message group in send order, a failed message retried
             before the next of its group.
  subgroup_dlq  GROUP was made by `mqadmin updateSubGroup -r 2` and
             GROUP-Off by `-s false` before the script starts. COUNT
             messages received by GROUP and never acked (1 s invisible):
             each is delivered exactly 3 times (attempts 1, 2, 3), then read
             from %DLQ%GROUP with its id, body and properties and upstream's
             RETRY_TOPIC; a receive by GROUP-Off is refused (FORBIDDEN).

  sql92      COUNT messages with properties region (missing on some),
             amount (missing on some), price (a decimal), vip, tier and a
             tag; three SimpleConsumers and a PushConsumer with SQL92
             filters over several properties and operators get exactly the
             matching messages, each once; a malformed expression is
             refused at receive with ILLEGAL_FILTER_EXPRESSION naming its
             column.

Talks to the caller through stdout lines, flushed at once:
  PROGRESS sent=K       (failover: K messages acknowledged so far)
  PROGRESS halves=N     (tx_failover: N half messages sent; kill, then go)
  INFO ...              free text
  SUMMARY key=value ... one per scenario, the numbers the caller asserts on
  PASS SCENARIO | FAIL SCENARIO: reason   the last line; exit code 0 / 1
Every wait is bounded; a watchdog ends the process (exit 3) if a client call
hangs. The client logs to ~/logs/rocketmq_python/ (set HOME to move it).
"""

import math
import os
import sys
import threading
import time
import traceback

from rocketmq import (ClientConfiguration, ConsumeResult, Credentials,
                      FilterExpression, Message, MessageListener, Producer,
                      PushConsumer, SimpleConsumer, TransactionChecker,
                      TransactionResolution)
from rocketmq.grpc_protocol import FilterType, TransactionSource

INVISIBLE_SHORT = 2  # seconds: the redeliver scenario's invisible duration
CODE_OK = 20000  # rocketmq.grpc_protocol.Code.OK
UNICODE_VALUE = "wert-\u00e9\u4e2d\u6587-\u2713"


_out = threading.Lock()


def say(*parts):
    """One whole line to stdout (threads never interleave), flushed."""
    line = " ".join(str(p) for p in parts).replace("\n", " ")
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def one_line(e):
    return " ".join(f"{type(e).__name__}: {e}".split())[:240]


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def watchdog(seconds, scenario):
    """Ends the process if the scenario runs longer than `seconds`."""

    def fire():
        say(f"FAIL {scenario}: watchdog: still running after {seconds} s")
        os._exit(3)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def config(namesrv):
    return ClientConfiguration(namesrv, Credentials(), request_timeout=3)


def start_producer(namesrv, topic):
    p = Producer(config(namesrv), (topic,))
    p.startup()
    return p


def shutdown(client):
    try:
        client.shutdown()
    except Exception as e:  # a failed shutdown fails no scenario
        say(f"INFO shutdown raised {one_line(e)}")


def body_of(topic, i):
    # Bytes that are not UTF-8, and a zero byte, exercise the body encoding.
    return f"{topic}-{i}-".encode() + bytes([0, 0xFF, i % 256, 0xC3])


def make_message(topic, i, tag=None):
    m = Message()
    m.topic = topic
    m.body = body_of(topic, i)
    if tag:
        m.tag = tag
    m.keys = f"key-{i}"
    m.keys = f"alt-{i}"
    m.add_property("idx", str(i))
    m.add_property("parity", "even" if i % 2 == 0 else "odd")
    m.add_property("unicode", UNICODE_VALUE)
    return m


def expected_fields(topic, i, tag):
    return {
        "topic": topic,
        "body": body_of(topic, i),
        "tag": tag,
        "keys": {f"key-{i}", f"alt-{i}"},
        "properties": {
            "idx": str(i),
            "parity": "even" if i % 2 == 0 else "odd",
            "unicode": UNICODE_VALUE,
        },
    }


def actual_fields(m):
    return {
        "topic": m.topic,
        "body": m.body,
        "tag": m.tag,
        "keys": set(m.keys),
        "properties": dict(m.properties),
    }


def send_all(producer, topic, indices, tag_of=lambda i: None):
    """Sends synchronously; returns {message_id: index}."""
    sent = {}
    for i in indices:
        receipt = producer.send(make_message(topic, i, tag_of(i)))
        check(receipt.message_id, f"send {i}: receipt without message id")
        check(receipt.message_id not in sent, f"send {i}: message id reused")
        sent[receipt.message_id] = i
    return sent


def receive(consumer, max_num, invisible):
    """One receive; an exception counts as an empty receive (logged)."""
    try:
        return consumer.receive(max_num, invisible)
    except Exception as e:
        say(f"INFO receive raised {one_line(e)}")
        time.sleep(0.2)
        return []


def expect_nothing_more(consumer, receives, invisible):
    """`receives` consecutive receives that return nothing."""
    for n in range(receives):
        batch = consumer.receive(32, invisible)
        if batch:
            raise Failed(
                f"empty receive {n + 1}/{receives} got {len(batch)} message(s), "
                f"e.g. {batch[0].message_id} attempt {batch[0].delivery_attempt}"
            )


# ---- scenario a: tags, keys, properties -------------------------------------


def scenario_tags(namesrv, topic, group, count):
    watchdog(150, "tags")
    t0 = time.time()
    producer = start_producer(namesrv, topic)
    sent = send_all(
        producer, topic, range(count), lambda i: "TagA" if i % 2 == 0 else "TagB"
    )
    shutdown(producer)
    t_sent = time.time() - t0
    want = {mid: i for mid, i in sent.items() if i % 2 == 0}
    say(f"INFO sent {len(sent)} in {t_sent:.1f} s; {len(want)} with TagA")

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("TagA")}, await_duration=2
    )
    consumer.startup()
    got = {}
    duplicates = 0
    deadline = time.time() + 60
    while len(got) < len(want) and time.time() < deadline:
        for m in receive(consumer, 32, 30):
            mid = m.message_id
            check(mid in sent, f"received {mid}, which was never sent")
            i = sent[mid]
            check(i % 2 == 0, f"received {mid} (#{i}, tag {m.tag}): not TagA")
            exp, act = expected_fields(topic, i, "TagA"), actual_fields(m)
            check(act == exp, f"message #{i} ({mid}) differs: got {act}, sent {exp}")
            check(not m.corrupted, f"message #{i} ({mid}): body digest mismatch")
            check(m.message_type == 1, f"message #{i} ({mid}): type {m.message_type}, not NORMAL")
            born = (m.born_timestamp or 0) / 1000
            check(
                t0 - 60 < born <= time.time() + 5,
                f"message #{i} ({mid}): born timestamp {m.born_timestamp} ms",
            )
            check(
                m.delivery_attempt == 1,
                f"message #{i} ({mid}): delivery attempt {m.delivery_attempt}, not 1",
            )
            if mid in got:
                duplicates += 1
            got[mid] = i
            consumer.ack(m)
    missing = sorted(want[mid] for mid in want.keys() - got.keys())
    t_recv = time.time() - t0 - t_sent
    say(
        f"SUMMARY tags sent={len(sent)} expected={len(want)} received={len(got)} "
        f"duplicates={duplicates} missing={len(missing)} "
        f"send_s={t_sent:.1f} receive_s={t_recv:.1f}"
    )
    check(not missing, f"{len(missing)} TagA message(s) never received: #{missing[:10]}")
    check(duplicates == 0, f"{duplicates} TagA message(s) received twice before ack")
    # Acked: nothing more, not even after the 30 s invisibility would matter.
    expect_nothing_more(consumer, 2, 30)
    shutdown(consumer)


# ---- scenario b: redelivery after the invisible duration ---------------------


def scenario_redeliver(namesrv, topic, group, count):
    watchdog(90, "redeliver")
    producer = start_producer(namesrv, topic)
    sent = send_all(producer, topic, range(count), lambda i: "TagR")
    shutdown(producer)

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()
    first = {}  # id -> receive time of attempt 1
    second = {}  # id -> (receive time, message) of attempt 2
    deadline = time.time() + 40
    while len(second) < count and time.time() < deadline:
        for m in receive(consumer, 32, INVISIBLE_SHORT):
            now = time.time()
            mid = m.message_id
            check(mid in sent, f"received {mid}, which was never sent")
            i = sent[mid]
            exp, act = expected_fields(topic, i, "TagR"), actual_fields(m)
            check(act == exp, f"message #{i} ({mid}) differs: got {act}, sent {exp}")
            if m.delivery_attempt == 1:
                check(mid not in first, f"#{i} ({mid}): attempt 1 delivered twice")
                first[mid] = now
            elif m.delivery_attempt == 2:
                check(mid in first, f"#{i} ({mid}): attempt 2 before attempt 1")
                check(mid not in second, f"#{i} ({mid}): attempt 2 delivered twice")
                waited = now - first[mid]
                # Delivered again no earlier than its invisible duration
                # (minus the receive's own latency).
                check(
                    waited >= INVISIBLE_SHORT - 0.5,
                    f"#{i} ({mid}) came back after {waited:.2f} s, "
                    f"invisible duration {INVISIBLE_SHORT} s",
                )
                second[mid] = (now, m)
            else:
                raise Failed(
                    f"#{i} ({mid}): delivery attempt {m.delivery_attempt} "
                    f"(first seen: {mid in first})"
                )
    waits = [second[mid][0] - first[mid] for mid in second]
    say(
        f"SUMMARY redeliver sent={count} first={len(first)} second={len(second)} "
        f"min_wait_s={min(waits, default=0):.2f} max_wait_s={max(waits, default=0):.2f}"
    )
    check(len(first) == count, f"only {len(first)}/{count} delivered a first time")
    check(
        set(second) == set(sent),
        f"only {len(second)}/{count} delivered again with attempt 2",
    )
    for _, m in second.values():
        consumer.ack(m)
    # Acked: they stay gone, also past another invisible duration.
    time.sleep(INVISIBLE_SHORT + 1)
    expect_nothing_more(consumer, 2, INVISIBLE_SHORT)
    shutdown(consumer)


# ---- scenario c: PushConsumer ------------------------------------------------


class Recorder(MessageListener):
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}  # id -> (body, tag)
        self.calls = 0

    def consume(self, message):
        with self.lock:
            self.calls += 1
            self.seen[message.message_id] = (message.body, message.tag)
        return ConsumeResult.SUCCESS


def scenario_push(namesrv, topic, group, count):
    watchdog(100, "push")
    producer = start_producer(namesrv, topic)
    half = count // 2
    sent = send_all(producer, topic, range(half), lambda i: "TagP")
    listener = Recorder()
    consumer = PushConsumer(
        config(namesrv), group, listener, {topic: FilterExpression("*")}
    )
    consumer.startup()
    sent.update(send_all(producer, topic, range(half, count), lambda i: "TagP"))
    shutdown(producer)
    t0 = time.time()
    deadline = t0 + 60
    while time.time() < deadline:
        with listener.lock:
            if set(sent) <= set(listener.seen):
                break
        time.sleep(0.1)
    elapsed = time.time() - t0
    with listener.lock:
        seen, calls = dict(listener.seen), listener.calls
    missing = sorted(sent[mid] for mid in set(sent) - set(seen))
    unknown = set(seen) - set(sent)
    say(
        f"SUMMARY push sent={len(sent)} seen={len(seen)} calls={calls} "
        f"missing={len(missing)} unknown={len(unknown)} wait_s={elapsed:.1f}"
    )
    check(not missing, f"{len(missing)} message(s) never consumed: #{missing[:10]}")
    check(not unknown, f"consumed {len(unknown)} message(s) never sent")
    for mid, (body, tag) in seen.items():
        check(body == body_of(topic, sent[mid]), f"{mid}: body differs")
        check(tag == "TagP", f"{mid}: tag {tag}")
    shutdown(consumer)


# ---- scenario d: failover ----------------------------------------------------


def scenario_failover(namesrv, topic, group, count):
    watchdog(150, "failover")
    t0 = time.time()
    lock = threading.Lock()
    acked = {}  # message id -> seq
    received = {}  # message id -> times received
    send_errors = []
    receive_errors = [0]
    ack_errors = [0]
    producer_done = threading.Event()
    stop = threading.Event()
    pace = 0.01  # seconds between sends: the run spans the kill
    send_deadline = t0 + 100

    producer = start_producer(namesrv, topic)
    # The first message creates the topic before the consumer asks its route.
    first = producer.send(make_message(topic, 0, "TagF"))
    acked[first.message_id] = 0

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()

    def produce():
        try:
            for seq in range(1, count):
                while True:
                    check(
                        time.time() < send_deadline,
                        f"message #{seq} not sent within {send_deadline - t0:.0f} s",
                    )
                    try:
                        r = producer.send(make_message(topic, seq, "TagF"))
                        break
                    except Exception as e:
                        send_errors.append((time.time() - t0, seq, one_line(e)))
                        time.sleep(0.5)
                with lock:
                    acked[r.message_id] = seq
                    n = len(acked)
                if n % 50 == 0:
                    say(f"PROGRESS sent={n} t={time.time() - t0:.1f}")
                time.sleep(pace)
        except Failed as e:
            send_errors.append((time.time() - t0, -1, str(e)))
        finally:
            producer_done.set()

    def consume():
        while not stop.is_set():
            try:
                batch = consumer.receive(32, 5)
            except Exception as e:
                receive_errors[0] += 1
                if receive_errors[0] <= 5 or receive_errors[0] % 20 == 0:
                    say(f"INFO receive error #{receive_errors[0]}: {one_line(e)}")
                time.sleep(0.5)
                continue
            for m in batch:
                with lock:
                    received[m.message_id] = received.get(m.message_id, 0) + 1
                try:
                    consumer.ack(m)
                except Exception as e:
                    ack_errors[0] += 1
                    if ack_errors[0] <= 5:
                        say(f"INFO ack error: {one_line(e)}")

    threads = [threading.Thread(target=produce, daemon=True),
               threading.Thread(target=consume, daemon=True)]
    for t in threads:
        t.start()
    producer_done.wait(send_deadline - time.time() + 10)
    t_sent = time.time() - t0
    say(f"INFO producer finished after {t_sent:.1f} s")
    # The consumer catches up: every acknowledged id, within 30 s.
    catch_up = time.time() + 30
    while time.time() < catch_up:
        with lock:
            if set(acked) <= set(received):
                break
        time.sleep(0.2)
    stop.set()
    threads[1].join(15)
    with lock:
        missing = sorted(acked[mid] for mid in set(acked) - set(received))
        unexpected = len(set(received) - set(acked))
        dup = sum(n - 1 for n in received.values())
        n_acked, n_received = len(acked), len(received)
    gave_up = [e for e in send_errors if e[1] == -1]
    first_err = send_errors[0][0] if send_errors else 0
    last_err = send_errors[-1][0] if send_errors else 0
    say(
        f"SUMMARY failover acked={n_acked} received={n_received} missing={len(missing)} "
        f"duplicates={dup} unacked_received={unexpected} send_errors={len(send_errors)} "
        f"first_error_s={first_err:.1f} last_error_s={last_err:.1f} "
        f"receive_errors={receive_errors[0]} ack_errors={ack_errors[0]} "
        f"send_s={t_sent:.1f} total_s={time.time() - t0:.1f}"
    )
    for e in send_errors[:3] + send_errors[-2:]:
        say(f"INFO send error at {e[0]:.1f} s (#{e[1]}): {e[2]}")
    check(not gave_up, gave_up[0][2] if gave_up else "")
    check(n_acked == count, f"only {n_acked}/{count} sends acknowledged")
    check(not missing, f"{len(missing)} acknowledged message(s) never received: "
                       f"#{missing[:10]}")
    shutdown(producer)
    shutdown(consumer)


# ---- scenario e: delayed messages ---------------------------------------------
#
# The 5.1.2 client documents Message.delivery_timestamp in milliseconds but
# copies the value into the wire Timestamp's `seconds` field
# (Producer.__send_req). A due time in ms therefore reaches the broker as a
# date tens of millennia ahead. The scenario sets whole seconds, which the
# wire carries faithfully, and also sends the documented millisecond value
# once: a broker must refuse it like any time more than three days ahead.

DELAY_SPREAD = 7  # due times 2..8 s ahead (whole seconds)
FAR_AHEAD_S = 4 * 86400  # past RocketMQ's 3-day limit


def error_code(e):
    """The status code a client exception carries, -1 if none."""
    code = getattr(e, "code", None)
    return code if isinstance(code, int) else -1


def percentile(sorted_values, q):
    if not sorted_values:
        return -1
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def refused_send(producer, message, what):
    """Sends `message`; returns (status code, message id). 20000 when the
    broker accepted it."""
    try:
        producer.send(message)
        code = CODE_OK
    except Exception as e:
        code = error_code(e)
        say(f"INFO {what}: send refused: {one_line(e)}")
    return code, message.message_id


def scenario_delay(namesrv, topic, group, count):
    watchdog(100, "delay")
    problems = []
    producer = start_producer(namesrv, topic)
    controls = max(3, count // 10)
    # Creates the topic; a control message like the others.
    sent = send_all(producer, topic, [count], lambda i: "TagN")  # id -> index
    is_control = {mid: True for mid in sent}
    sent_at = {mid: time.time() for mid in sent}

    # Too far ahead: refused, and never delivered.
    far = make_message(topic, count + controls + 1, "TagFar")
    far.delivery_timestamp = int(time.time()) + FAR_AHEAD_S
    far_code, far_id = refused_send(producer, far, "4 days ahead")
    misuse = make_message(topic, count + controls + 2, "TagFar")
    misuse.delivery_timestamp = time.time_ns() // 1_000_000 + 5000  # as documented
    ms_code, ms_id = refused_send(producer, misuse, "ms as seconds")
    never = {far_id: "4 days ahead", ms_id: "ms as seconds"}

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()

    due_ms = {}  # id -> due time, ms since the epoch
    t0 = time.time()
    for i in range(count):
        m = make_message(topic, i, "TagD")
        due_s = math.ceil(time.time() + 2) + i % DELAY_SPREAD
        m.delivery_timestamp = due_s  # whole seconds: see above
        r = producer.send(m)
        check(r.message_id not in sent, f"send {i}: message id reused")
        sent[r.message_id] = i
        due_ms[r.message_id] = due_s * 1000
    for i in range(count + 1, count + controls):
        for mid in send_all(producer, topic, [i], lambda i: "TagN"):
            sent[mid] = i
            is_control[mid] = True
            sent_at[mid] = time.time()
    t_sent = time.time() - t0
    shutdown(producer)
    say(f"INFO sent {count} delayed and {len(is_control)} control message(s) in {t_sent:.1f} s")

    late = {}  # id -> receive time - due time, ms
    control_ms = {}  # id -> receive time - send time, ms
    duplicates = 0
    never_received = []
    ts_mismatch = 0
    early = []  # (ms early, index)

    def take(batch):
        nonlocal duplicates, ts_mismatch
        now_ms = time.time_ns() // 1_000_000
        for m in batch:
            mid = m.message_id
            if mid in never:
                never_received.append(never[mid])
                consumer.ack(m)
                continue
            check(mid in sent, f"received {mid}, which was never sent")
            i = sent[mid]
            if mid in late or mid in control_ms:
                duplicates += 1
            elif mid in is_control:
                control_ms[mid] = now_ms - int(sent_at[mid] * 1000)
            else:
                tag = "TagD"
                exp, act = expected_fields(topic, i, tag), actual_fields(m)
                check(act == exp, f"message #{i} ({mid}) differs: got {act}, sent {exp}")
                late[mid] = now_ms - due_ms[mid]
                if now_ms < due_ms[mid] - 5:
                    early.append((due_ms[mid] - now_ms, i))
                if m.delivery_timestamp != due_ms[mid]:
                    ts_mismatch += 1
            consumer.ack(m)

    want = set(sent)
    deadline = max(due_ms.values(), default=0) / 1000 + 20
    while not want <= set(late) | set(control_ms) and time.time() < deadline:
        take(receive(consumer, 32, 30))
    try:
        # Nothing more: no second copy, and not the refused ones.
        for _ in range(2):
            take(consumer.receive(32, 30))
    except Exception as e:
        say(f"INFO receive raised {one_line(e)}")
    missing = sorted(sent[mid] for mid in want - set(late) - set(control_ms))
    lat = sorted(late.values())
    early.sort(reverse=True)
    say(
        f"SUMMARY delay sent={count} controls={len(is_control)} received={len(late)} "
        f"controls_received={len(control_ms)} early={len(early)} "
        f"most_early_ms={early[0][0] if early else 0} duplicates={duplicates} "
        f"missing={len(missing)} late_p50_ms={percentile(lat, 0.5)} "
        f"late_p99_ms={percentile(lat, 0.99)} late_max_ms={lat[-1] if lat else -1} "
        f"late_min_ms={lat[0] if lat else -1} "
        f"control_max_ms={max(control_ms.values(), default=-1)} ts_mismatch={ts_mismatch} "
        f"far_code={far_code} ms_as_seconds_code={ms_code} "
        f"refused_received={len(never_received)} send_s={t_sent:.1f}"
    )
    if early:
        problems.append(
            f"{len(early)}/{count} delayed message(s) received before their delivery time, "
            f"up to {early[0][0]} ms early (#{early[0][1]})"
        )
    if missing:
        problems.append(f"{len(missing)} message(s) never received: #{missing[:10]}")
    if duplicates:
        problems.append(f"{duplicates} message(s) received twice")
    if far_code == CODE_OK:
        problems.append(f"a delivery time {FAR_AHEAD_S // 86400} days ahead was accepted")
    if ms_code == CODE_OK:
        problems.append("a delivery time ~50,000 years ahead (ms sent as seconds) was accepted")
    if never_received:
        problems.append(f"delivered what should have been refused: {never_received}")
    check(not problems, "; ".join(problems))
    shutdown(consumer)


# ---- scenario f: transactions ---------------------------------------------------
#
# COUNT transactions committed, COUNT rolled back, COUNT left open by a
# producer that then shuts down ("orphans": half say commit, half rollback
# in their `outcome` property). A second producer of the topic stays up; its
# checker answers what the property says. The first producer's checker
# knows nothing (it raises, so the client sends no answer).


class Checker(TransactionChecker):
    def __init__(self, name, answers):
        self.name = name
        self.answers = answers
        self.lock = threading.Lock()
        self.calls = []  # (time, message id, outcome property)

    def check(self, message):
        outcome = message.properties.get("outcome")
        with self.lock:
            self.calls.append((time.time(), message.message_id, outcome))
        if not self.answers:
            raise RuntimeError(f"{self.name} producer does not know (it is going away)")
        if outcome in ("commit", "orphan-commit"):
            return TransactionResolution.COMMIT
        return TransactionResolution.ROLLBACK

    def checked(self):
        with self.lock:
            return list(self.calls)


def end(tx, commit):
    """Commits or rolls back; returns the status code (20000 when OK)."""
    try:
        if commit:
            tx.commit()
        else:
            tx.rollback()
        return CODE_OK
    except Exception as e:
        return error_code(e)


def scenario_transaction(namesrv, topic, group, count):
    watchdog(120, "transaction")
    problems = []
    first_checker = Checker("first", answers=False)
    first = Producer(config(namesrv), (topic,), first_checker)
    first.startup()

    outcome_of = {}  # id -> commit | rollback | orphan-commit | orphan-rollback
    index_of = {}
    txs = {"commit": [], "rollback": []}
    end_errors = {"commit": [], "rollback": []}  # status codes

    def half(i, outcome):
        m = make_message(topic, i, "TagT")
        m.add_property("outcome", outcome)
        tx = first.begin_transaction()
        r = first.send(m, tx)
        check(r.message_id and r.message_id not in outcome_of, f"send {i}: bad message id")
        outcome_of[r.message_id] = outcome
        index_of[r.message_id] = i
        return tx

    t0 = time.time()
    for k in range(count):
        for n, kind in ((2 * k, "commit"), (2 * k + 1, "rollback")):
            tx = half(n, kind)
            code = end(tx, kind == "commit")
            if code != CODE_OK:
                end_errors[kind].append(code)
            txs[kind].append(tx)
    # A second end of an ended transaction: the same answer again, and the
    # other answer.
    recommit = end(txs["commit"][0], True)
    recommit_again = end(txs["commit"][0], True)
    rollback_committed = end(txs["commit"][0], False)
    commit_rolled_back = end(txs["rollback"][0], True)
    say(
        f"INFO second ends: commit again {recommit} and {recommit_again}, rollback of a "
        f"committed one {rollback_committed}, commit of a rolled-back one {commit_rolled_back}"
    )
    # The producer that stays up, started once the topic has a route.
    second_checker = Checker("second", answers=True)
    second = Producer(config(namesrv), (topic,), second_checker)
    second.startup()
    for k in range(count):
        half(2 * count + k, "orphan-commit" if k % 2 == 0 else "orphan-rollback")
    t_orphans = time.time()
    shutdown(first)  # the orphans stay open
    say(
        f"INFO {3 * count} transactions in {t_orphans - t0:.1f} s; end errors: "
        f"commit {end_errors['commit'][:3]} rollback {end_errors['rollback'][:3]}"
    )

    want = {mid for mid, o in outcome_of.items() if o in ("commit", "orphan-commit")}
    orphans = {mid for mid, o in outcome_of.items() if o.startswith("orphan")}
    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()
    got = {}  # id -> times received
    wrong = []  # rolled-back ids received
    unknown = 0

    def take(batch):
        nonlocal unknown
        for m in batch:
            mid = m.message_id
            if mid not in outcome_of:
                unknown += 1
            elif mid in want:
                got[mid] = got.get(mid, 0) + 1
            else:
                wrong.append(mid)
            consumer.ack(m)

    def orphans_answered():
        return {mid for _, mid, _ in second_checker.checked()} >= orphans

    deadline = t_orphans + 40
    while time.time() < deadline and not (set(got) >= want and orphans_answered()):
        take(receive(consumer, 32, 30))
    t_done = time.time() - t_orphans
    try:
        # Nothing more: no rolled-back one, no second copy.
        for _ in range(2):
            take(consumer.receive(32, 30))
    except Exception as e:
        say(f"INFO receive raised {one_line(e)}")
    shutdown(consumer)
    second_calls = second_checker.checked()
    shutdown(second)

    answered = {mid for _, mid, _ in second_calls}
    missing = sorted(index_of[mid] for mid in want - set(got))
    dup = sum(n - 1 for n in got.values())
    wrong_kinds = sorted({outcome_of[mid] for mid in wrong})
    checked_ended = sum(1 for mid in answered if mid not in orphans)
    say(
        f"SUMMARY transaction committed={count} rolled_back={count} orphans={count} "
        f"expected={len(want)} received={len(got)} missing={len(missing)} duplicates={dup} "
        f"rolled_back_received={len(wrong)} unknown_received={unknown} "
        f"commit_errors={len(end_errors['commit'])} rollback_errors={len(end_errors['rollback'])} "
        f"end_code={(end_errors['commit'] + end_errors['rollback'] + [CODE_OK])[0]} "
        f"recommit_code={recommit} recommit_again_code={recommit_again} "
        f"rollback_committed_code={rollback_committed} "
        f"commit_rolled_back_code={commit_rolled_back} "
        f"checks_first={len(first_checker.checked())} checks_second={len(second_calls)} "
        f"orphans_checked={len(answered & orphans)} checked_ended={checked_ended} "
        f"resolve_s={t_done:.1f}"
    )
    if wrong:
        problems.append(
            f"{len(wrong)} rolled-back message(s) delivered ({', '.join(wrong_kinds)}), "
            f"e.g. #{index_of[wrong[0]]} ({wrong[0]})"
        )
    for kind in ("commit", "rollback"):
        if end_errors[kind]:
            problems.append(
                f"{len(end_errors[kind])}/{count} {kind}s refused, status {end_errors[kind][0]}"
            )
    if missing:
        problems.append(f"{len(missing)} committed message(s) never received: #{missing[:10]}")
    if dup:
        problems.append(f"{dup} committed message(s) received twice")
    if len(answered & orphans) < len(orphans):
        problems.append(
            f"only {len(answered & orphans)}/{len(orphans)} orphan(s) checked with the "
            "second producer"
        )
    if recommit != recommit_again or recommit not in (CODE_OK, 40008):
        problems.append(f"commit of a committed transaction: {recommit} then {recommit_again}")
    if rollback_committed != 40008:
        problems.append(
            f"rollback of a committed transaction: status {rollback_committed}, "
            "want 40008 INVALID_TRANSACTION_ID"
        )
    if commit_rolled_back != 40008:
        problems.append(
            f"commit of a rolled-back transaction: status {commit_rolled_back}, "
            "want 40008 INVALID_TRANSACTION_ID"
        )
    check(not problems, "; ".join(problems))


# ---- scenario g: transactions across a leader kill -------------------------------
#
# COUNT half messages sent; `PROGRESS halves=COUNT`; the caller kills the
# leader and, once a new one stands, creates $HOME/go. Then even ones are
# committed and odd ones rolled back. The official client ends a transaction
# at the endpoints of its send receipt (the killed leader's), so the ends go
# through Producer.end_transaction at the route's current endpoints,
# retried until the client's route refresh (every 30 s) points at the new
# leader. The broker is configured not to check back within the test.

GO_WAIT = 90  # seconds the caller may take to kill the leader and see a new one
FINAL_CODES = (40008, 50500)  # INVALID_TRANSACTION_ID, UNSUPPORTED: retrying won't help


def scenario_tx_failover(namesrv, topic, group, count):
    watchdog(240, "tx_failover")
    problems = []
    checker = Checker("the", answers=False)  # the ends are explicit
    producer = Producer(config(namesrv), (topic,), checker)
    producer.startup()
    pending = []  # (message, receipt, commit?)
    for i in range(count):
        m = make_message(topic, i, "TagX")
        m.add_property("outcome", "commit" if i % 2 == 0 else "rollback")
        tx = producer.begin_transaction()
        r = producer.send(m, tx)
        pending.append((m, r, i % 2 == 0))
    commit_ids = {m.message_id: i for i, (m, _, c) in enumerate(pending) if c}
    rollback_ids = {m.message_id for m, _, c in pending if not c}
    say(f"PROGRESS halves={count}")

    go = os.path.join(os.environ["HOME"], "go")
    go_deadline = time.time() + GO_WAIT
    while not os.path.exists(go) and time.time() < go_deadline:
        time.sleep(0.1)
    check(os.path.exists(go), f"the caller did not say go within {GO_WAIT} s")
    t_go = time.time()

    final = {}  # message id -> status code of its end
    transport_errors = 0
    left = list(pending)
    end_deadline = t_go + 60
    while left and time.time() < end_deadline:
        route = producer._retrieve_topic_route_data(topic)
        endpoints = next(iter(route.all_endpoints().values()))
        still = []
        for m, r, commit in left:
            resolution = TransactionResolution.COMMIT if commit else TransactionResolution.ROLLBACK
            try:
                res = producer.end_transaction(
                    endpoints, m, r.transaction_id, resolution, TransactionSource.SOURCE_CLIENT
                )
                code = res.status.code
            except Exception as e:
                transport_errors += 1
                if transport_errors <= 3:
                    say(f"INFO end at {endpoints}: {one_line(e)}")
                code = None
            if code == CODE_OK or code in FINAL_CODES:
                final[m.message_id] = code
            else:
                still.append((m, r, commit))
        left = still
        if left:
            time.sleep(0.5)
    t_ended = time.time() - t_go
    shutdown(producer)
    refused = [c for c in final.values() if c != CODE_OK]

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()
    got = {}
    wrong = 0
    deadline = time.time() + 45
    while time.time() < deadline and not set(got) >= set(commit_ids):
        for m in receive(consumer, 32, 30):
            if m.message_id in rollback_ids:
                wrong += 1
            else:
                got[m.message_id] = got.get(m.message_id, 0) + 1
            consumer.ack(m)
    try:
        for _ in range(2):
            for m in consumer.receive(32, 30):
                if m.message_id in rollback_ids:
                    wrong += 1
                else:
                    got[m.message_id] = got.get(m.message_id, 0) + 1
                consumer.ack(m)
    except Exception as e:
        say(f"INFO receive raised {one_line(e)}")
    shutdown(consumer)
    missing = sorted(commit_ids[mid] for mid in set(commit_ids) - set(got))
    dup = sum(n - 1 for n in got.values())
    unknown = len(set(got) - set(commit_ids))
    say(
        f"SUMMARY tx_failover halves={count} committed={len(commit_ids)} "
        f"rolled_back={len(rollback_ids)} ended={len(final)} unended={len(left)} "
        f"end_refused={len(refused)} end_code={refused[0] if refused else CODE_OK} "
        f"transport_errors={transport_errors} end_s={t_ended:.1f} received={len(got)} "
        f"missing={len(missing)} duplicates={dup} unknown_received={unknown} "
        f"rolled_back_received={wrong} checks={len(checker.checked())}"
    )
    if wrong:
        problems.append(f"{wrong} rolled-back message(s) delivered")
    if left:
        problems.append(f"{len(left)}/{count} transaction(s) not ended within 60 s")
    if refused:
        problems.append(f"{len(refused)}/{count} end(s) refused, status {refused[0]}")
    if missing:
        problems.append(f"{len(missing)} committed message(s) never received: #{missing[:10]}")
    if dup or unknown:
        problems.append(f"{dup} duplicate(s), {unknown} unknown message(s) received")
    check(not problems, "; ".join(problems))


# ---- scenario h: SQL92 filters -------------------------------------------------
#
# Each message carries several properties; the SQL92 filters below use them
# with IN, BETWEEN, =, <>, >, <=, IS NULL, NOT, AND, OR and TAGS, and the
# broker evaluates them. Each is checked against the same predicate written
# in Python: a missing property is NULL, so a comparison with it never
# matches, and NOT of it neither.

def sql92_properties(i):
    p = {}
    if i % 11 != 0:
        p["region"] = ["eu", "us", "ap"][i % 3]
    if i % 7 != 0:
        p["amount"] = str((i * 37) % 1000)
    p["price"] = f"{(i % 40) / 2:.1f}"
    p["vip"] = "true" if i % 4 == 0 else "false"
    p["tier"] = ["gold", "silver", "bronze", "basic", "none"][i % 5]
    return p, ("TagA" if i % 2 == 0 else "TagB")


def sql92_e1(p, tag):
    return (p.get("region") in ("eu", "ap") and "amount" in p
            and 100 <= int(p["amount"]) <= 500 and tag == "TagA")


def sql92_e2(p, tag):
    return (float(p["price"]) > 10.5 and p["vip"] == "true") or "region" not in p


def sql92_e3(p, tag):
    return ("amount" in p and int(p["amount"]) < 300 and p["tier"] != "gold"
            and float(p["price"]) <= 5.0)


SQL92_FILTERS = [
    ("e1", "region IN ('eu', 'ap') AND amount BETWEEN 100 AND 500 AND TAGS = 'TagA'", sql92_e1),
    ("e2", "(price > 10.5 AND vip = TRUE) OR region IS NULL", sql92_e2),
    ("e3", "NOT (amount >= 300) AND tier <> 'gold' AND price <= 5.0", sql92_e3),
]
SQL92_MALFORMED = "amount > AND region = 'eu'"  # column 10: an operand expected


def sql92_receive_all(consumer, want, sent, name):
    """Receives until every wanted id came; returns (got, unexpected, dup)."""
    got, unexpected, dup = set(), [], 0
    deadline = time.time() + 40
    while not want <= got and time.time() < deadline:
        for m in receive(consumer, 32, 30):
            if m.message_id not in want:
                unexpected.append(sent.get(m.message_id, -1))
            elif m.message_id in got:
                dup += 1
            got.add(m.message_id)
            consumer.ack(m)
    for _ in range(2):  # nothing more
        for m in receive(consumer, 32, 30):
            if m.message_id in want:
                dup += 1
            else:
                unexpected.append(sent.get(m.message_id, -1))
            consumer.ack(m)
    return got, unexpected, dup


def scenario_sql92(namesrv, topic, group, count):
    watchdog(150, "sql92")
    problems = []
    producer = start_producer(namesrv, topic)
    sent, props = {}, {}  # id -> index; index -> (properties, tag)
    for i in range(count):
        p, tag = sql92_properties(i)
        m = Message()
        m.topic = topic
        m.body = body_of(topic, i)
        m.tag = tag
        for k, v in p.items():
            m.add_property(k, v)
        r = producer.send(m)
        check(r.message_id not in sent, f"send {i}: message id reused")
        sent[r.message_id] = i
        props[i] = (p, tag)
    shutdown(producer)

    summary = [f"sent={count}"]
    for name, expression, predicate in SQL92_FILTERS:
        want = {mid for mid, i in sent.items() if predicate(*props[i])}
        consumer = SimpleConsumer(
            config(namesrv), f"{group}-{name}",
            {topic: FilterExpression(expression, FilterType.SQL)}, await_duration=2,
        )
        consumer.startup()
        got, unexpected, dup = sql92_receive_all(consumer, want, sent, name)
        shutdown(consumer)
        missing = sorted(sent[mid] for mid in want - got)
        summary.append(
            f"{name}_expected={len(want)} {name}_received={len(got & want)} "
            f"{name}_unexpected={len(unexpected)} {name}_missing={len(missing)} "
            f"{name}_duplicates={dup}"
        )
        if not want:
            problems.append(f"{name}: the filter matches nothing; the test proves nothing")
        if unexpected:
            problems.append(f"{name} ({expression}): {len(unexpected)} non-matching "
                            f"message(s) delivered, e.g. #{unexpected[:5]}")
        if missing:
            problems.append(f"{name} ({expression}): {len(missing)} matching message(s) "
                            f"never delivered, e.g. #{missing[:5]}")
        if dup:
            problems.append(f"{name}: {dup} message(s) delivered twice")

    # A PushConsumer with the second filter.
    name, expression, predicate = SQL92_FILTERS[1]
    want = {mid for mid, i in sent.items() if predicate(*props[i])}
    listener = Recorder()
    push = PushConsumer(
        config(namesrv), f"{group}-push", listener,
        {topic: FilterExpression(expression, FilterType.SQL)},
    )
    push.startup()
    deadline = time.time() + 40
    while time.time() < deadline:
        with listener.lock:
            if want <= set(listener.seen):
                break
        time.sleep(0.1)
    time.sleep(3)  # anything extra would arrive meanwhile
    with listener.lock:
        seen = set(listener.seen)
    shutdown(push)
    push_extra = seen - want
    summary.append(f"push_expected={len(want)} push_received={len(seen & want)} "
                   f"push_unexpected={len(push_extra)}")
    if push_extra or not want <= seen:
        problems.append(f"push: {len(want - seen)} missing, {len(push_extra)} unexpected")

    # A malformed expression: refused at receive, naming the column.
    bad = SimpleConsumer(
        config(namesrv), f"{group}-bad",
        {topic: FilterExpression(SQL92_MALFORMED, FilterType.SQL)}, await_duration=2,
    )
    bad.startup()
    bad_code, bad_message, delivered = -1, "", 0
    try:
        delivered = len(bad.receive(32, 30))
    except Exception as e:
        bad_code, bad_message = error_code(e), str(e)
        say(f"INFO malformed filter refused: {one_line(e)}")
    shutdown(bad)
    has_column = 1 if "column 10" in bad_message else 0
    summary.append(f"bad_code={bad_code} bad_names_column={has_column} bad_delivered={delivered}")
    if bad_code != 40010:
        problems.append(f"malformed filter: status {bad_code}, want 40010 ILLEGAL_FILTER_EXPRESSION")
    if not has_column:
        problems.append(f"malformed filter: the message does not name column 10: {bad_message!r}")
    say("SUMMARY sql92 " + " ".join(summary))
    check(not problems, "; ".join(problems))


SCENARIOS = {
    "tags": scenario_tags,
    "redeliver": scenario_redeliver,
    "push": scenario_push,
    "failover": scenario_failover,
    "delay": scenario_delay,
    "transaction": scenario_transaction,
    "tx_failover": scenario_tx_failover,
    "sql92": scenario_sql92,
}


# ---- scenario fifo: ordered message groups -----------------------------------

FIFO_GROUPS = ("GA", "GB", "GC", "GD")


def send_fifo(producer, topic, count):
    """`count` messages per message group, the groups in turn, one send at
    a time; returns {message_id: (group, seq)}."""
    sent = {}
    for seq in range(count):
        for g in FIFO_GROUPS:
            m = Message()
            m.topic = topic
            m.body = f"{g}-{seq}".encode()
            m.message_group = g
            m.keys = f"{g}-{seq}"
            receipt = producer.send(m)
            check(receipt.message_id not in sent, f"send {g}-{seq}: message id reused")
            sent[receipt.message_id] = (g, seq)
    return sent


class FifoRecorder(MessageListener):
    """Records (group, seq) per listener call; fails `fail_once` once; notes
    two calls of one message group running at once."""

    def __init__(self, sent, fail_once):
        self.lock = threading.Lock()
        self.sent = sent
        self.fail_once = fail_once
        self.failed = False
        self.calls = []
        self.running = set()
        self.overlaps = 0

    def consume(self, message):
        g, seq = self.sent.get(message.message_id, ("?", -1))
        with self.lock:
            if g in self.running:
                self.overlaps += 1
            self.running.add(g)
            self.calls.append((g, seq))
        time.sleep(0.01)
        with self.lock:
            self.running.discard(g)
            if (g, seq) == self.fail_once and not self.failed:
                self.failed = True
                return ConsumeResult.FAILURE
        return ConsumeResult.SUCCESS


def first_order_errors(deliveries):
    """Per message group, first deliveries that are not the next in send
    order: a list of descriptions."""
    seen, nxt, errors = set(), {}, []
    for g, seq in deliveries:
        if (g, seq) in seen:
            continue
        seen.add((g, seq))
        want = nxt.get(g, 0)
        if seq != want:
            errors.append(f"{g}-{seq} first delivered when {g}-{want} was due")
        nxt[g] = seq + 1
    return errors


def scenario_fifo(namesrv, topic, group, count):
    watchdog(150, "fifo")
    producer = start_producer(namesrv, topic)
    sent = send_fifo(producer, topic, count)
    say(f"INFO sent {len(sent)} messages in {len(FIFO_GROUPS)} message groups")

    # Part 1: a SimpleConsumer holds GA-1 unacked.
    held_key = (FIFO_GROUPS[0], 1)
    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=2
    )
    consumer.startup()
    deliveries = []  # (group, seq) in receive order
    acked = set()
    held_at = None  # when GA-1 was first received
    redelivered_after = None
    blocked_violations = []
    others_while_held = 0
    batch_doubles = 0
    deadline = time.time() + 60
    while len(acked) < len(sent) and time.time() < deadline:
        batch = receive(consumer, 16, INVISIBLE_SHORT)
        groups_in_batch = [sent.get(m.message_id, ("?", -1))[0] for m in batch]
        if len(set(groups_in_batch)) < len(groups_in_batch):
            batch_doubles += 1
        for m in batch:
            check(m.message_id in sent, f"received {m.message_id}, which was never sent")
            g, seq = sent[m.message_id]
            check(m.message_group == g, f"{g}-{seq}: message group {m.message_group}")
            deliveries.append((g, seq))
            holding = held_at is not None and held_key not in acked
            if holding and g == held_key[0] and (g, seq) != held_key:
                blocked_violations.append(f"{g}-{seq} while {g}-1 was held")
            if (g, seq) == held_key and held_at is None:
                held_at = time.time()  # not acked: it must come again
                continue
            if (g, seq) == held_key:
                check(m.delivery_attempt == 2, f"{g}-1 came again with attempt {m.delivery_attempt}")
                redelivered_after = time.time() - held_at
            elif holding and m.delivery_attempt == 1:
                others_while_held += 1
            consumer.ack(m)
            acked.add((g, seq))
    order_errors = first_order_errors(deliveries)
    missing = len(sent) - len(acked)
    say(
        f"INFO simple: {len(deliveries)} deliveries, held {held_key[0]}-1 came again after "
        f"{redelivered_after if redelivered_after is None else round(redelivered_after, 2)} s"
    )
    shutdown(consumer)

    # Part 2: a PushConsumer of a second FIFO consumer group; GB-2 fails once.
    listener = FifoRecorder(sent, (FIFO_GROUPS[1], 2))
    push = PushConsumer(
        config(namesrv), group + "Push", listener, {topic: FilterExpression("*")}
    )
    push.startup()
    push_fifo = getattr(push, "_PushConsumer__fifo", None)
    deadline = time.time() + 60
    while time.time() < deadline:
        with listener.lock:
            done = {k for k in listener.calls}
        if len(done) >= len(sent):
            break
        time.sleep(0.1)
    with listener.lock:
        calls, overlaps = list(listener.calls), listener.overlaps
    shutdown(push)
    push_errors = first_order_errors(calls)
    fail_key = (FIFO_GROUPS[1], 2)
    fail_calls = [i for i, c in enumerate(calls) if c == fail_key]
    after = [i for i, c in enumerate(calls) if c == (FIFO_GROUPS[1], 3)]
    retried_first = len(fail_calls) >= 2 and (not after or fail_calls[1] < after[0])
    push_missing = len(set(sent.values()) - set(calls))

    say(
        f"SUMMARY fifo sent={len(sent)} groups={len(FIFO_GROUPS)} acked={len(acked)} "
        f"missing={missing} out_of_order={len(order_errors)} "
        f"held_redelivered={0 if redelivered_after is None else 1} "
        f"held_wait_s={0 if redelivered_after is None else round(redelivered_after, 2)} "
        f"blocked_violations={len(blocked_violations)} others_while_held={others_while_held} "
        f"batch_doubles={batch_doubles} push_fifo={1 if push_fifo else 0} "
        f"push_missing={push_missing} push_out_of_order={len(push_errors)} "
        f"push_overlaps={overlaps} push_retried_first={1 if retried_first else 0}"
    )
    problems = []
    if missing:
        problems.append(f"{missing} message(s) never acked")
    if order_errors:
        problems.append(f"first deliveries out of order: {order_errors[:5]}")
    if redelivered_after is None:
        problems.append("the held message never came again")
    elif redelivered_after < INVISIBLE_SHORT - 0.5:
        problems.append(f"the held message came again after {redelivered_after:.2f} s")
    if blocked_violations:
        problems.append(f"its group went on while it was held: {blocked_violations[:5]}")
    if others_while_held == 0:
        problems.append("no other group went on while one message was held")
    if batch_doubles:
        problems.append(f"{batch_doubles} receive(s) with two messages of one group")
    if not push_fifo:
        problems.append("the PushConsumer was not told its group is FIFO")
    if push_missing:
        problems.append(f"the PushConsumer missed {push_missing} message(s)")
    if push_errors:
        problems.append(f"PushConsumer order: {push_errors[:5]}")
    if overlaps:
        problems.append(f"{overlaps} listener call(s) beside another of their group")
    if not retried_first:
        problems.append(f"GB-2 not retried before GB-3: calls {fail_calls} / {after[:1]}")
    check(not problems, "; ".join(problems))


SCENARIOS["fifo"] = scenario_fifo

# ---- scenario h: a subscription group's retry limit and dead letters -------------

DLQ_INVISIBLE = 1  # seconds: each delivery's invisible duration
CODE_FORBIDDEN = 40300  # rocketmq.grpc_protocol.Code.FORBIDDEN


def scenario_subgroup_dlq(namesrv, topic, group, count):
    watchdog(100, "subgroup_dlq")
    producer = start_producer(namesrv, topic)
    sent = send_all(producer, topic, range(count), lambda i: "TagD")
    shutdown(producer)

    consumer = SimpleConsumer(
        config(namesrv), group, {topic: FilterExpression("*")}, await_duration=1
    )
    consumer.startup()
    attempts = {mid: [] for mid in sent}  # delivery attempts seen, in order
    unknown = 0
    # Three deliveries each, then some quiet time in which a fourth would
    # have come (1 s invisible): none may.
    deadline = time.time() + 40
    quiet_until = None
    while time.time() < deadline:
        for m in receive(consumer, 32, DLQ_INVISIBLE):
            if m.message_id not in attempts:
                unknown += 1
                continue
            attempts[m.message_id].append(m.delivery_attempt)
        if all(len(a) >= 3 for a in attempts.values()):
            if quiet_until is None:
                quiet_until = time.time() + 3 * DLQ_INVISIBLE
            elif time.time() >= quiet_until:
                break
    shutdown(consumer)

    dlq_topic = f"%DLQ%{group}"
    reader = SimpleConsumer(
        config(namesrv), f"{group}-Reader", {dlq_topic: FilterExpression("*")}, await_duration=2
    )
    reader.startup()
    dead = {}
    fields_wrong = []
    deadline = time.time() + 20
    while len(dead) < count and time.time() < deadline:
        for m in receive(reader, 32, 30):
            if m.message_id not in sent:
                unknown += 1
                continue
            i = sent[m.message_id]
            props = dict(m.properties)
            exp = expected_fields(topic, i, "TagD")
            if (
                m.body != exp["body"]
                or m.tag != "TagD"
                or set(m.keys) != exp["keys"]
                or any(props.get(k) != v for k, v in exp["properties"].items())
                or props.get("RETRY_TOPIC") != topic
            ):
                fields_wrong.append(f"#{i}: body/tag/keys/properties {props}")
            dead[m.message_id] = m
            reader.ack(m)
    shutdown(reader)

    off = SimpleConsumer(
        config(namesrv), f"{group}-Off", {topic: FilterExpression("*")}, await_duration=1
    )
    off.startup()
    try:
        got = off.receive(32, DLQ_INVISIBLE)
        off_code = CODE_OK
        say(f"INFO the disabled group received {len(got)} message(s)")
    except Exception as e:
        off_code = error_code(e)
        say(f"INFO the disabled group was refused: {one_line(e)}")
    shutdown(off)

    three = sum(1 for a in attempts.values() if a == [1, 2, 3])
    more = sum(1 for a in attempts.values() if len(a) > 3)
    say(
        f"SUMMARY subgroup_dlq sent={count} delivered_three_times={three} "
        f"delivered_more={more} dead_letters={len(dead)} fields_wrong={len(fields_wrong)} "
        f"unknown={unknown} disabled_code={off_code}"
    )
    problems = []
    if three != count:
        bad = {sent[mid]: a for mid, a in attempts.items() if a != [1, 2, 3]}
        problems.append(f"attempts not 1, 2, 3: {bad}")
    if len(dead) != count:
        problems.append(f"{len(dead)}/{count} in {dlq_topic}")
    if fields_wrong:
        problems.append("; ".join(fields_wrong[:3]))
    if off_code != CODE_FORBIDDEN:
        problems.append(f"disabled group: code {off_code}, want {CODE_FORBIDDEN}")
    check(not problems, "; ".join(problems))


SCENARIOS["subgroup_dlq"] = scenario_subgroup_dlq


def main(argv):
    if len(argv) != 6 or argv[2] not in SCENARIOS:
        say(f"usage: {argv[0]} NAMESRV {'|'.join(SCENARIOS)} TOPIC GROUP COUNT")
        return 2
    namesrv, scenario, topic, group, count = argv[1], argv[2], argv[3], argv[4], int(argv[5])
    try:
        SCENARIOS[scenario](namesrv, topic, group, count)
    except Failed as e:
        say(f"FAIL {scenario}: {e}")
        return 1
    except Exception as e:
        traceback.print_exc()
        say(f"FAIL {scenario}: {one_line(e)}")
        return 1
    say(f"PASS {scenario}")
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    # Client threads (schedulers, gRPC loops) must not keep the process alive.
    os._exit(code)
