"""Translation with transformers seq2seq models of the NLLB / M2M100 family (name or folder).

NLLB truncates long inputs (max_length 200 tokens), so an article is split into
sentences and translated in batches of ``batch_size``. Units: ``input_token`` (source
tokens, specials included, as the encoder sees them) and ``output_token`` (generated
tokens, padding excluded).
"""

from __future__ import annotations

from typing import Any

from ..samples import Sample
from ..texts import FLORES, split_sentences
from .base import Backend, BackendUnavailable, RunResult, SampleError, register


@register
class NllbBackend(Backend):
    name = "transformers-nllb"
    service = "translate"
    units = ["input_token", "output_token"]
    kinds = ("text",)
    library = "transformers"

    def __init__(self, model: str, device: str = "cpu", **options: Any):
        super().__init__(model, device, **options)
        self.batch_size = int(options.get("batch_size", 8))
        self.max_input_tokens = int(options.get("max_input_tokens", 200))
        self.max_new_tokens = int(options.get("max_new_tokens", 256))
        self.num_beams = int(options.get("num_beams", 1))
        self.target = options.get("target", "en")  # translate into this; English sources go to `target_for_en`
        self.target_for_en = options.get("target_for_en", "fr")
        self._model = self._tok = None

    def check(self) -> None:
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable("NLLB backend needs `pip install torch transformers sentencepiece`") from exc
        # Start CUDA here, not in the measured load: a served model's reload (keep-alive
        # expiry) happens in a process whose CUDA context and imports already exist.
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise BackendUnavailable(
                    f"device {self.device!r} asked for, but this torch build sees no CUDA GPU "
                    f"(torch {torch.__version__}); install a CUDA build of torch or use --device cpu"
                )
            torch.zeros(1, device=self.device)

    def load(self) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(self.model, local_files_only=True)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(self.model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"cannot load translation model {self.model!r} ({exc}); download it first, e.g. "
                "`huggingface-cli download facebook/nllb-200-distilled-600M`, or give its folder"
            ) from exc
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self._model = self._model.to(self.device, dtype=dtype).eval()

    def _target(self, lang: str) -> str:
        return self.target_for_en if lang == self.target else self.target

    def run(self, sample: Sample) -> RunResult:
        import torch

        if sample.lang not in FLORES:
            raise SampleError(f"{sample.id}: language {sample.lang!r} unknown; use one of {sorted(FLORES)}")
        sentences = split_sentences(sample.text or "")
        if not sentences:
            raise SampleError(f"{sample.id}: empty text, nothing to translate")
        tgt = FLORES[self._target(sample.lang)]
        self._tok.src_lang = FLORES[sample.lang]
        forced = self._tok.convert_tokens_to_ids(tgt)
        pad = self._tok.pad_token_id
        n_in = n_out = 0
        outputs: list[str] = []
        for i in range(0, len(sentences), self.batch_size):
            batch = sentences[i : i + self.batch_size]
            enc = self._tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_input_tokens).to(self.device)
            with torch.inference_mode():
                gen = self._model.generate(
                    **enc, forced_bos_token_id=forced, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
                )
            n_in += int(enc["attention_mask"].sum())
            # The first position is the decoder start token, not generated work.
            n_out += int((gen[:, 1:] != pad).sum())
            outputs += self._tok.batch_decode(gen, skip_special_tokens=True)
        return RunResult({"input_token": float(n_in), "output_token": float(n_out)}, output=" ".join(outputs), extra={"sentences": len(sentences)})

    def gpu_memory_gb(self) -> float | None:
        if not self.device.startswith("cuda"):
            return None
        import torch

        return torch.cuda.max_memory_allocated() / 1e9

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"transformers": version("transformers"), "torch": version("torch")}

    def close(self) -> None:
        self._model = self._tok = None
