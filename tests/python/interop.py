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

Talks to the caller through stdout lines, flushed at once:
  PROGRESS sent=K       (failover: K messages acknowledged so far)
  INFO ...              free text
  SUMMARY key=value ... one per scenario, the numbers the caller asserts on
  PASS SCENARIO | FAIL SCENARIO: reason   the last line; exit code 0 / 1
Every wait is bounded; a watchdog ends the process (exit 3) if a client call
hangs. The client logs to ~/logs/rocketmq_python/ (set HOME to move it).
"""

import os
import sys
import threading
import time
import traceback

from rocketmq import (ClientConfiguration, ConsumeResult, Credentials,
                      FilterExpression, Message, MessageListener, Producer,
                      PushConsumer, SimpleConsumer)

INVISIBLE_SHORT = 2  # seconds: the redeliver scenario's invisible duration
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


SCENARIOS = {
    "tags": scenario_tags,
    "redeliver": scenario_redeliver,
    "push": scenario_push,
    "failover": scenario_failover,
}


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
