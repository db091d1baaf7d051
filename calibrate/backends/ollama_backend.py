"""Generation with a model served by Ollama, through the official ``ollama`` client.

Units come from Ollama's own counters: ``input_token`` = ``prompt_eval_count`` and
``output_token`` = ``eval_count``. The cold load is measured by unloading the model
(``keep_alive=0``) and loading it with an empty prompt; warm calls keep it resident.
Output lengths are varied across samples with ``num_predict`` so the fit can tell the
cost of prompt tokens from that of generated tokens.
"""

from __future__ import annotations

from typing import Any

from ..samples import Sample
from .base import Backend, BackendUnavailable, RunResult, SampleError, register

LANG_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "ar": "Arabic"}
DEFAULT_PROMPT = "Summarise the following article in {language}, in a few paragraphs.\n\n{text}"


@register
class OllamaBackend(Backend):
    name = "ollama"
    service = "generate"
    units = ["input_token", "output_token"]
    kinds = ("text",)
    library = "ollama"

    def __init__(self, model: str, device: str = "cpu", **options: Any):
        super().__init__(model, device, **options)
        self.host = options.get("host") or "http://127.0.0.1:11434"
        self.num_predict = [int(n) for n in options.get("num_predict", (32, 128, 256))]
        self.prompt = options.get("prompt", DEFAULT_PROMPT)
        self.keep_alive = options.get("keep_alive", "10m")
        self.timeout_s = float(options.get("timeout_s", 600))
        self._client = None
        self._calls = 0
        self.load_info: dict[str, float] = {}

    def _connect(self):
        try:
            import ollama
        except ImportError as exc:
            raise BackendUnavailable("Ollama backend needs `pip install ollama`") from exc
        if self._client is None:
            self._client = ollama.Client(host=self.host, timeout=self.timeout_s)
        return self._client

    def check(self) -> None:
        import ollama

        client = self._connect()
        try:
            client.show(self.model)
        except ConnectionError as exc:
            raise BackendUnavailable(f"cannot reach an Ollama server at {self.host}: start it with `ollama serve` or pass --ollama-host") from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise BackendUnavailable(f"Ollama at {self.host} has no model {self.model!r}: run `ollama pull {self.model}`") from exc
            raise BackendUnavailable(f"Ollama at {self.host} refused {self.model!r}: {exc}") from exc

    def unload(self) -> None:
        """Evict the model so the next load is cold."""
        self._connect().generate(model=self.model, prompt="", keep_alive=0)

    def load(self) -> None:
        self.unload()
        resp = self._connect().generate(model=self.model, prompt="", keep_alive=self.keep_alive)
        self.load_info = {"load_duration_s": (resp.load_duration or 0) / 1e9}

    def run(self, sample: Sample) -> RunResult:
        import ollama

        text = (sample.text or "").strip()
        if not text:
            raise SampleError(f"{sample.id}: empty text, nothing to generate from")
        n = self.num_predict[self._calls % len(self.num_predict)]
        self._calls += 1
        prompt = self.prompt.format(language=LANG_NAMES.get(sample.lang, sample.lang), text=text)
        try:
            resp = self._connect().generate(
                model=self.model, prompt=prompt, keep_alive=self.keep_alive,
                options={"num_predict": n, "temperature": 0.0, "seed": 0},
            )
        except ConnectionError as exc:
            raise SampleError(f"{sample.id}: Ollama at {self.host} went away ({exc})") from exc
        except ollama.ResponseError as exc:
            raise SampleError(f"{sample.id}: Ollama error {exc.status_code}: {exc.error}") from exc
        if resp.prompt_eval_count is None or resp.eval_count is None:
            raise SampleError(f"{sample.id}: Ollama returned no token counts (prompt_eval_count/eval_count)")
        units = {"input_token": float(resp.prompt_eval_count), "output_token": float(resp.eval_count)}
        extra = {
            "server_total_s": (resp.total_duration or 0) / 1e9,
            "prompt_eval_s": (resp.prompt_eval_duration or 0) / 1e9,
            "eval_s": (resp.eval_duration or 0) / 1e9,
            "num_predict": n,
        }
        return RunResult(units, output=resp.response or "", extra=extra)

    def gpu_memory_gb(self) -> float | None:
        try:
            for m in self._connect().ps().models:
                if m.model == self.model or m.name == self.model:
                    return None if m.size_vram is None else m.size_vram / 1e9
        except Exception:
            return None
        return None

    def close(self) -> None:
        self._client = None
