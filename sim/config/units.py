"""Units of work and Whisper's window: plain constants, importable without NumPy or numba.

The live monitor (``calibrate.monitor``) checks the units handlers report against these
names, so this module must stay free of heavy imports.
"""

#: Whisper's encoder always runs on windows of this many seconds (the unit ``audio_window``).
WINDOW_S = 30.0

#: Units of work a model may be priced in; the simulator knows how to compute each one.
UNITS: dict[str, str] = {
    "audio_second": "seconds of input audio",
    "audio_window": "30-second encoder windows, ceil(duration/30), at least 1",
    "input_token": "tokens of input text, from characters and chars_per_token",
    "output_token": "tokens generated",
    "input_char": "characters of input text",
    "request": "one per job (use it for per-call overhead)",
}
