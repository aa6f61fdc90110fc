"""A small byte-level BPE tokenizer (the kind BART uses), trained with the `tokenizers` library.

Special tokens first (by default <pad>=0, <s>=1, </s>=2, <unk>=3; BART's own order <s>=0, <pad>=1, </s>=2,
<unk>=3 for the tiny Florence-2 model); the full 256-symbol byte alphabet, so every text encodes without
<unk>; then merges learnt from the dataset's text. No post-processor and no normalizer: the engine adds eos
(and bos, where the manifest says `add_bos`) itself (ENGINE.md §2). Loadable by the JS library
@huggingface/tokenizers.
"""
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def train_tokenizer(texts, vocab_size, special_tokens=SPECIAL_TOKENS):
    """special_tokens get the ids 0, 1, … in the order given."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    for expected, token in enumerate(special_tokens):
        assert tokenizer.token_to_id(token) == expected, (token, tokenizer.token_to_id(token))
    return tokenizer


def encode_ids(tokenizer, text, eos_id, max_tokens, bos_id=None):
    """ENGINE.md §2: encode(text, no special tokens) + [eos], cut to max_tokens keeping eos last; with bos_id
    (the manifest's `add_bos`), [bos] + encode(text) + [eos], cut the same way (bos first, eos last)."""
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    if bos_id is None:
        return ids[:max_tokens - 1] + [eos_id]
    return [bos_id] + ids[:max_tokens - 2] + [eos_id]


def bos_of(text_cfg):
    """The bos id to put first in prompt and target ids: the manifest's `text.bos_id` when `text.add_bos` is
    true (Florence-2), else None."""
    return text_cfg["bos_id"] if text_cfg.get("add_bos") else None
