"""Retriever training for rader-queue: bi-encoder (and cross-encoder reranker) fine-tuning on
the Tevatron-format datasets the pipeline assembles, with InfoNCE over in-batch and hard
negatives, LoRA or full fine-tuning, a plain PyTorch loop and a DeepSpeed path.

    config.TrainConfig      every knob, validated (ConfigError names the field)
    data                    JSONL reading, per-epoch group sampling, collator
    model                   BiEncoder / Reranker: build, save (adapter + merged), load
    loss                    InfoNCE with cross-rank gathering
    trainer.train           the loop; progress callback(step, loss, lr)
    records                 checkpoints / training_logs rows in SQL
    launch                  ``python -m rader_queue.train.launch --config cfg.json`` (torchrun/deepspeed)
"""
