"""The rfarm farm protocol from Python, built only on what `flatc --python` generates from farm/protocol/farm.fbs
and on Debian's python3-flatbuffers (flatbuffers + flatbuffers.flexbuffers). farm/PROTOCOL.md is the
specification; this module is the proof that a client in another language can be written from it.

    frame = submit_frame(7, "add", [1, 2.5])        # bytes: [u32 length][Frame{Submit}]
    for frame in split_frames(received): print(decode_frame(frame))

PYTHONPATH must hold the generated package (rfarm/farm/wire/*.py; the build puts it in
<build>/farm/protocol/python).
"""

import struct

import flatbuffers
from flatbuffers import flexbuffers
from rfarm.farm.wire import (Cancel, EndServer, Failure, FailureKind, Frame, Hello, Message, Ping, Pong, Result,
                             Submit, Welcome)

FILE_IDENTIFIER = b"RFM1"
PROTOCOL_VERSION = 1
PREFIX = 4  # the u32 little-endian length in front of every frame

_FAILURE_KIND_NAMES = {value: name for name, value in vars(FailureKind.FailureKind).items()
                       if not name.startswith("_")}


def _flexbuffer_vector(builder, data):
    """A [ubyte] vector whose first byte is 8-byte aligned in the frame (PROTOCOL.md: Values)."""
    builder.StartVector(1, len(data), 8)
    builder.head -= len(data)
    builder.Bytes[builder.head:builder.head + len(data)] = data
    return builder.EndVector()


def _finish(builder, message_type, message):
    Frame.Start(builder)
    Frame.AddMessageType(builder, message_type)
    Frame.AddMessage(builder, message)
    builder.FinishSizePrefixed(Frame.End(builder), FILE_IDENTIFIER)
    return bytes(builder.Output())


def hello_frame(features=0, client_name="python", auth_token=None, protocol_version=PROTOCOL_VERSION):
    b = flatbuffers.Builder(128)
    name = b.CreateString(client_name)
    token = b.CreateString(auth_token) if auth_token is not None else None
    Hello.Start(b)
    Hello.AddProtocolVersion(b, protocol_version)
    Hello.AddFeatures(b, features)
    Hello.AddClientName(b, name)
    if token is not None:
        Hello.AddAuthToken(b, token)
    return _finish(b, Message.Message.Hello, Hello.End(b))


def submit_frame(task_id, task, args, deadline_ms=0, flags=0):
    """args: a Python list, encoded as a FlexBuffers vector (ints, floats, bools, str, bytes, None, lists, dicts)."""
    b = flatbuffers.Builder(256)
    encoded = flexbuffers.Dumps(list(args))
    vector = _flexbuffer_vector(b, encoded)
    name = b.CreateString(task)
    Submit.Start(b)
    Submit.AddTaskId(b, task_id)
    Submit.AddTask(b, name)
    Submit.AddArgs(b, vector)
    Submit.AddDeadlineMs(b, deadline_ms)
    Submit.AddFlags(b, flags)
    return _finish(b, Message.Message.Submit, Submit.End(b))


def ping_frame(nonce):
    b = flatbuffers.Builder(64)
    Ping.Start(b)
    Ping.AddNonce(b, nonce)
    return _finish(b, Message.Message.Ping, Ping.End(b))


def cancel_frame(task_id):
    b = flatbuffers.Builder(64)
    Cancel.Start(b)
    Cancel.AddTaskId(b, task_id)
    return _finish(b, Message.Message.Cancel, Cancel.End(b))


def end_server_frame(reason=""):
    b = flatbuffers.Builder(64)
    text = b.CreateString(reason)
    EndServer.Start(b)
    EndServer.AddReason(b, text)
    return _finish(b, Message.Message.EndServer, EndServer.End(b))


def split_frames(data):
    """The whole frames at the front of data, and the bytes left over (an incomplete frame)."""
    frames = []
    at = 0
    while len(data) - at >= PREFIX:
        (length,) = struct.unpack_from("<I", data, at)
        if length == 0:
            raise ValueError("frame of length 0")
        if len(data) - at < PREFIX + length:
            break
        frames.append(bytes(data[at:at + PREFIX + length]))
        at += PREFIX + length
    return frames, bytes(data[at:])


def _string(s):
    return s.decode("utf-8", "replace") if s is not None else ""


def _bytes_of(table, length, at):
    return bytes(at(j) for j in range(length))


def decode_frame(frame):
    """One frame (prefix included) as a dict: {"type": "result", "task_id": ..., "value": ...} and so on."""
    (length,) = struct.unpack_from("<I", frame, 0)
    if length + PREFIX != len(frame):
        raise ValueError("length prefix %d does not match the frame's %d bytes" % (length, len(frame)))
    if not Frame.Frame.FrameBufferHasIdentifier(frame, 0, size_prefixed=True):
        raise ValueError("not an rfarm frame (identifier)")
    root = Frame.Frame.GetRootAs(frame, PREFIX)
    kind = root.MessageType()
    table = root.Message()
    if kind == Message.Message.Welcome:
        w = Welcome.Welcome()
        w.Init(table.Bytes, table.Pos)
        return {"type": "welcome", "accepted": bool(w.Accepted()), "reason": _string(w.Reason()),
                "protocol_version": w.ProtocolVersion(), "features": w.Features(),
                "max_frame_size": w.MaxFrameSize()}
    if kind == Message.Message.Result:
        r = Result.Result()
        r.Init(table.Bytes, table.Pos)
        value = _bytes_of(r, r.ValueLength(), r.Value)
        return {"type": "result", "task_id": r.TaskId(), "value": flexbuffers.Loads(value) if value else None}
    if kind == Message.Message.Failure:
        f = Failure.Failure()
        f.Init(table.Bytes, table.Pos)
        return {"type": "failure", "task_id": f.TaskId(), "kind": _FAILURE_KIND_NAMES.get(f.Kind(), "unknown"),
                "message": _string(f.Message()), "task": _string(f.Task())}
    if kind == Message.Message.Pong:
        p = Pong.Pong()
        p.Init(table.Bytes, table.Pos)
        return {"type": "pong", "nonce": p.Nonce()}
    return {"type": "message %d" % kind}
