"""Test fixture: a minimal Ollama-API-compatible server on loopback.

Serves /api/show, /api/generate (non-streaming) and /api/ps for one model tag, backed by a
tiny randomly initialised transformers MistralForCausalLM and the real Mistral tokenizer
from mistral-common. Token counts and durations are real counts and timings of that model.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


class TinyMistral:
    def __init__(self, seed: int = 0):
        from transformers import MistralConfig, MistralForCausalLM

        from calibrate.tokens import MistralTokenizer

        self.tok = MistralTokenizer("v1")._tok
        torch.manual_seed(seed)
        cfg = MistralConfig(vocab_size=self.tok.n_words, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192)
        self.model = MistralForCausalLM(cfg).eval()

    def generate(self, prompt: str, num_predict: int) -> tuple[str, int, int, float, float]:
        ids = self.tok.encode(prompt, bos=True, eos=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = torch.tensor([ids])
            out = self.model(x, use_cache=True)  # prompt evaluation
            t1 = time.perf_counter()
            gen = self.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=num_predict, min_new_tokens=num_predict,
                                      do_sample=False, pad_token_id=0)
        t2 = time.perf_counter()
        new = gen[0, len(ids):].tolist()
        del out
        return self.tok.decode(new), len(ids), len(new), t1 - t0, t2 - t1


def serve(tag: str = "tiny-mistral:latest"):
    """Start the server on a free loopback port; returns (server, host URL)."""
    model = TinyMistral()
    state = {"loaded": False}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/api/ps":
                models = [{"model": tag, "name": tag, "size": 1_000_000, "size_vram": 0}] if state["loaded"] else []
                return self._send(200, {"models": models})
            return self._send(404, {"error": "not found"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if body.get("model") != tag:
                return self._send(404, {"error": f"model '{body.get('model')}' not found"})
            if self.path == "/api/show":
                return self._send(200, {"modelfile": "", "details": {"family": "llama"}, "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"]})
            if self.path != "/api/generate":
                return self._send(404, {"error": "not found"})
            prompt = body.get("prompt", "")
            if not prompt:
                if body.get("keep_alive") == 0:
                    state["loaded"] = False
                    return self._send(200, {"model": tag, "done": True, "done_reason": "unload", "response": ""})
                t0 = time.perf_counter()
                model.generate("warm", 1)
                state["loaded"] = True
                return self._send(200, {"model": tag, "done": True, "response": "", "load_duration": int((time.perf_counter() - t0) * 1e9)})
            n = int((body.get("options") or {}).get("num_predict", 16))
            text, n_in, n_out, t_p, t_e = model.generate(prompt, n)
            state["loaded"] = True
            return self._send(200, {
                "model": tag, "done": True, "response": text, "prompt_eval_count": n_in, "eval_count": n_out,
                "prompt_eval_duration": int(t_p * 1e9), "eval_duration": int(t_e * 1e9),
                "total_duration": int((t_p + t_e) * 1e9), "load_duration": 0,
            })

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
