"""The smallest LAMOL run the tests share: tiny-gpt2, a few rows per task, one epoch, short generations."""

TINY_LAMOL = [
    "model.name=tiny-gpt2",
    "model.max_length=64",
    "model.max_answer_length=6",
    "stream.max_train=16",
    "stream.max_eval=8",
    "stream.max_dev=8",
    "training.epochs=1",
    "training.bf16=false",
    "method=lamol",
    "method_args.max_gen_length=12",
]
