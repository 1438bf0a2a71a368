"""Pieces of ``bench/bench_train_scale.py``: the synthetic 7B model and data, the step
figures, the two trainers' runs and the evaluation at scale."""
