"""Third-party noise out of the terminal unless ``-v``: library warnings, weight-loading and
download progress bars, chatty loggers (math-verify's timeout warnings, transformers, httpx)."""

from __future__ import annotations

import logging
import os
import warnings

NOISY_LOGGERS = ("math_verify", "latex2sympy2_extended", "transformers", "sentence_transformers",
                 "huggingface_hub", "datasets", "httpx", "httpcore", "openai", "celery",
                 "kombu", "urllib3", "filelock", "torch")


def quiet_third_party(verbose: bool = False) -> None:
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
        return
    for name, value in (("TRANSFORMERS_VERBOSITY", "error"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("TQDM_DISABLE", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                        ("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")):
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
