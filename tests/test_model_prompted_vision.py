"""Deep visual prompting around CLIP's stock ViT modules (docs/METHOD.md, step 4)."""
import pytest
import torch

from enprompt.model import PromptedVisionEncoder, cast_clip_weights

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture
def clip_fp32(tiny_clip):
    return cast_clip_weights(tiny_clip, "fp32")


def _images(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 224, 224, generator=g)


def test_widths_and_depth_read_from_the_model(clip_fp32):
    encoder = PromptedVisionEncoder(clip_fp32.visual)
    assert (encoder.width, encoder.num_layers, encoder.output_dim) == (64, 12, 64)


@pytest.mark.parametrize("prompts", [None, "empty"])
def test_without_prompts_equals_encode_image(clip_fp32, prompts):
    encoder = PromptedVisionEncoder(clip_fp32.visual)
    images = _images()
    if prompts == "empty":
        prompts = torch.zeros(9, 0, encoder.width)  # N_CTX_VISION = 0
    with torch.no_grad():
        ours = encoder(images, prompts)
        reference = clip_fp32.encode_image(images)
    assert ours.dtype == torch.float32
    assert (ours - reference).abs().max().item() <= 1e-5


def test_prompts_change_the_features(clip_fp32):
    encoder = PromptedVisionEncoder(clip_fp32.visual)
    images = _images()
    prompts = torch.randn(9, 4, encoder.width)
    with torch.no_grad():
        plain = encoder(images)
        prompted = encoder(images, prompts)
        changed_deep = prompts.clone()
        changed_deep[5] += 1.0
        prompted_deep = encoder(images, changed_deep)
    assert not torch.allclose(plain, prompted)
    assert not torch.allclose(prompted, prompted_deep)  # layer-5 tokens matter


def test_injection_layout(clip_fp32):
    """Layer 0: [CLS, patches, P_0] before ln_pre; layers 1..J-1: the last n tokens
    are replaced by P_j; deeper layers carry the previous outputs through."""
    encoder = PromptedVisionEncoder(clip_fp32.visual)
    n, depth = 3, 4
    prompts = torch.randn(depth, n, encoder.width)
    images = _images(2)
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen[name] = (args[0].detach().clone(), output.detach().clone())
        return hook

    handles = [clip_fp32.visual.ln_pre.register_forward_hook(record("ln_pre"))]
    for j, block in enumerate(clip_fp32.visual.transformer.resblocks):
        handles.append(block.register_forward_hook(record(j)))
    with torch.no_grad():
        encoder(images, prompts)
    for h in handles:
        h.remove()

    ln_in, _ = seen["ln_pre"]  # NLD
    assert ln_in.shape == (2, 1 + 49 + n, encoder.width)
    assert torch.equal(ln_in[:, -n:], prompts[0].expand(2, n, -1))
    for j in range(12):
        block_in, _ = seen[j]  # LND
        assert block_in.shape == (1 + 49 + n, 2, encoder.width)
        if 1 <= j < depth:
            assert torch.equal(block_in[-n:], prompts[j].unsqueeze(1).expand(n, 2, -1))
        if j >= 1:
            _, previous_out = seen[j - 1]
            assert torch.equal(block_in[:-n], previous_out[:-n])  # image tokens flow through
            if j >= depth:
                assert torch.equal(block_in[-n:], previous_out[-n:])  # carried through


def test_fp32_prompts_are_cast_into_a_half_tower(tiny_clip):
    encoder = PromptedVisionEncoder(tiny_clip.visual)  # native fp16 layout
    prompts = torch.randn(9, 4, encoder.width, requires_grad=True)
    out = encoder(_images(1), prompts)
    assert out.dtype == torch.float16
    out.float().sum().backward()
    assert prompts.grad is not None and prompts.grad.dtype == torch.float32


def test_depth_beyond_the_encoder_is_refused(clip_fp32):
    encoder = PromptedVisionEncoder(clip_fp32.visual)
    with pytest.raises(ValueError, match="PROMPT_DEPTH_VISION must be <= 12"):
        encoder(_images(1), torch.zeros(13, 2, encoder.width))
