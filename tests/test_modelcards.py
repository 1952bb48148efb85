import pytest

from optim.gpu import block_times, get_gpu, gpu_profiles
from optim.modelcard import list_model_cards, load_model_card

REQUIRED = ["llama-2-7b", "llama-2-13b", "llama-2-70b", "bloom-176b", "falcon-180b", "mixtral-8x7b", "llama-3.1-405b"]


def test_required_cards_shipped():
    assert set(REQUIRED) <= set(list_model_cards())


def test_bloom_nf4_block_is_1_32_gb():
    """BPRR paper (arXiv 2512.21884 Sec. 7): BLOOM-176B, 2,466,437,120 params per block, s_m ~ 1.323 GB in nf4."""
    card = load_model_card("bloom-176b")
    assert card.params_per_block == 2_466_437_120
    assert card.block_bytes["nf4"] == pytest.approx(1.3234e9, rel=1e-3)
    # s_c of the server-chain paper: 0.11 GB per block for a 2048-token session
    assert card.kv_cache_bytes_per_token_per_block * 2048 == pytest.approx(0.117e9, rel=0.01)


@pytest.mark.parametrize("name", REQUIRED)
def test_blocks_account_for_published_size(name):
    """Blocks hold all parameters but embeddings and the LM head: 95-100% of the published total."""
    c = load_model_card(name)
    share = c.num_blocks * c.params_per_block / c.published_total_params
    assert 0.95 < share <= 1.0


def test_derived_bytes_follow_petals_rule():
    c = load_model_card("llama-2-70b")
    assert c.block_bytes["fp16"] == round(c.params_per_block * 2 * 1.01)
    assert c.block_bytes["int8"] == round(c.params_per_block * 1 * 1.01)
    assert c.kv_cache_bytes_per_token_per_block == 2 * 8 * 128 * 2  # GQA: 8 KV heads


def test_roofline_reproduces_server_chain_paper_tau_p():
    """arXiv 2604.14993 Sec. 5: tau^p = 109 ms (3g.40gb) and 175 ms (2g.20gb) for BLOOM-176B nf4,
    l_in = 2000, l_out = 20, F = 5 GFLOPs (we count 2 x params = 4.93 GFLOPs)."""
    card = load_model_card("bloom-176b")
    for gpu, expected in (("A100-MIG-3g.40gb", 0.109), ("A100-MIG-2g.20gb", 0.175)):
        t = block_times(get_gpu(gpu), card, "nf4")
        tau_p = t.prefill_s + 2000 * t.prefill_s_per_token + 19 * t.decode_s_per_token
        assert tau_p == pytest.approx(expected, rel=0.02)


def test_measured_profiles_present_and_guarded():
    a100 = get_gpu("A100-80GB-BPRR")
    t = block_times(a100, load_model_card("bloom-176b"), "nf4")
    assert t.decode_s_per_token == pytest.approx(3.2197e-3)
    assert t.prefill_s + 20 * t.prefill_s_per_token == pytest.approx((32.99 + 0.0743 * 20) * 1e-3)
    with pytest.raises(Exception, match="measured on bloom-176b"):
        block_times(a100, load_model_card("llama-2-7b"), "nf4")
    for name in ["A100-80GB", "A100-40GB", "H100-80GB", "L4", "T4", "RTX-3090", "RTX-4090",
                 "A100-MIG-1g.10gb", "A100-MIG-2g.20gb", "A100-MIG-3g.40gb", "A100-MIG-1g.10gb-BPRR"]:
        assert name in gpu_profiles()
