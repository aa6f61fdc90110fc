"""A small byte-level BPE tokenizer (the kind BART uses), trained with the `tokenizers` library.

Special tokens <pad>=0, <s>=1, </s>=2, <unk>=3; the full 256-symbol byte alphabet, so every text encodes
without <unk>; then merges learnt from the dataset's text. No post-processor and no normalizer: the engine
adds eos itself (ENGINE.md §2). Loadable by the JS library @huggingface/tokenizers.
"""
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def train_tokenizer(texts, vocab_size):
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    for token, expected in zip(SPECIAL_TOKENS, (PAD_ID, BOS_ID, EOS_ID, UNK_ID)):
        assert tokenizer.token_to_id(token) == expected, (token, tokenizer.token_to_id(token))
    return tokenizer


def encode_ids(tokenizer, text, eos_id, max_tokens):
    """ENGINE.md §2: encode(text, no special tokens) + [eos], cut to max_tokens keeping eos last."""
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    return ids[:max_tokens - 1] + [eos_id]
