#!/usr/bin/env python3
# claude-api-standin.py — a local stand-in for the Anthropic Messages API, so that the
# real Claude Code can run end to end in a sandbox without the network or an account.
#
#   claude-api-standin.py SCRIPT LOG
#
# Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on stdout once it listens)
# and answers POST /v1/messages from SCRIPT, a JSON list of turns. The agent's own
# requests (those offering the Bash tool) get turn N, N being the number of assistant
# messages already in the conversation, so a retried request gets the same answer; a
# turn is a list of blocks, {"tool": NAME, "input": {...}} (a tool_use block) or
# {"text": "..."}. Past the last turn, and for Claude Code's side requests (titles,
# topic checks, quota probes: no tools), the answer is a short text. Streamed
# (`"stream": true`, server-sent events as the API sends them) or a plain JSON
# message, as asked. /v1/messages/count_tokens answers a count; anything else 404.
#
# Each request is appended to LOG as a JSON line {"path", "body"}: the test reads the
# tool results Claude Code sent back, i.e. what the tools saw inside the sandbox.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import http.server
import json
import socketserver
import sys
import threading

MODEL = "claude-standin"


def sse(event, data):
    return ("event: %s\ndata: %s\n\n" % (event, json.dumps(data))).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = []
    log = None
    lock = threading.Lock()
    counter = 0

    def log_message(self, fmt, *args):  # stderr stays for real errors
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_standin")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(404, {"type": "error",
                         "error": {"type": "not_found_error", "message": "not here"}})

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0]
        with Handler.lock:
            with open(Handler.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": path, "body": body}) + "\n")
            Handler.counter += 1
            n = Handler.counter
        if path == "/v1/messages/count_tokens":
            self.reply(200, {"input_tokens": 100})
        elif path == "/v1/messages":
            self.messages(body, n)
        else:
            self.do_GET()

    def blocks_for(self, body):
        tools = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
        if "Bash" not in tools:
            return [{"text": "Sandbox test"}]
        turn = sum(1 for m in body.get("messages") or []
                   if isinstance(m, dict) and m.get("role") == "assistant")
        if turn < len(Handler.script):
            return Handler.script[turn]
        return [{"text": "All done."}]

    def messages(self, body, n):
        blocks = self.blocks_for(body)
        content = []
        for i, block in enumerate(blocks):
            if "tool" in block:
                content.append({"type": "tool_use", "id": "toolu_standin_%d_%d" % (n, i),
                                "name": block["tool"], "input": block["input"]})
            else:
                content.append({"type": "text", "text": block["text"]})
        stop = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
        message = {"id": "msg_standin_%d" % n, "type": "message", "role": "assistant",
                   "model": body.get("model") or MODEL, "content": content,
                   "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": 100, "output_tokens": 20,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        if not body.get("stream"):
            self.reply(200, message)
            return

        events = [sse("message_start", {"type": "message_start", "message": dict(
            message, content=[], stop_reason=None,
            usage=dict(message["usage"], output_tokens=1))})]
        for i, c in enumerate(content):
            if c["type"] == "tool_use":
                start = dict(c, input={})
                # The input in two pieces, as the API streams it.
                text = json.dumps(c["input"])
                half = len(text) // 2
                deltas = [{"type": "input_json_delta", "partial_json": text[:half]},
                          {"type": "input_json_delta", "partial_json": text[half:]}]
            else:
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": c["text"]}]
            events.append(sse("content_block_start",
                              {"type": "content_block_start", "index": i,
                               "content_block": start}))
            for d in deltas:
                events.append(sse("content_block_delta",
                                  {"type": "content_block_delta", "index": i, "delta": d}))
            events.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(sse("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": stop,
                                                      "stop_sequence": None},
                                            "usage": {"output_tokens": 20}}))
        events.append(sse("message_stop", {"type": "message_stop"}))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", "req_standin")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for e in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(e), e))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: claude-api-standin.py SCRIPT LOG")
    with open(sys.argv[1], encoding="utf-8") as f:
        Handler.script = json.load(f)
    Handler.log = sys.argv[2]
    server = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
