"""The decoder's building blocks, each family in one registry keyed by the config's switch names.

    NORMS          rmsnorm, layernorm                         (ModelConfig.norm)
    FEEDFORWARDS   swiglu, geglu, gelu, relu, relu2, silu     (ModelConfig.activation)
    POSITIONS      rope, alibi, learned, none                 (ModelConfig.position)
    INITS          normal, scaled, small                      (ModelConfig.init)
    MIXERS         attention, rwkv                            (ModelConfig.mixer)

Register a new variant with the family's decorator and add its name to the Literal in
`jaforge.model.config`; the transformer picks it up by name.
"""

from jaforge.model.layers.attention import MIXERS, Attention, AttentionInputs, attention_mask, build_mixer
from jaforge.model.layers.feedforward import FEEDFORWARDS, MoEFeedForward, build_feedforward
from jaforge.model.layers.init import INITS, init_weights
from jaforge.model.layers.norms import NORMS, build_norm
from jaforge.model.layers.positions import POSITIONS, PositionEncoding, build_position
from jaforge.model.layers.recurrence import TimeMix, segment_starts

__all__ = ["MIXERS", "Attention", "AttentionInputs", "attention_mask", "build_mixer", "TimeMix",
           "segment_starts", "FEEDFORWARDS", "MoEFeedForward", "build_feedforward",
           "INITS", "init_weights", "NORMS", "build_norm", "POSITIONS", "PositionEncoding",
           "build_position"]
