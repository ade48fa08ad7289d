"""Checks for the hand-written reference models in reference_models.py."""

import json

import pytest
import torch

from conftest import REFERENCE
from reference_models import MODELS, alexnet, googlenet, nin

TORCHVISION_JSON = REFERENCE / "torchvision.json"

# name in MODELS -> name in torchvision.json
TORCHVISION_NAME = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "zoo_alexnet": "alexnet",
    "zoo_vgg16": "vgg16",
    "zoo_googlenet": "googlenet",
    # The chapter VGGs have the same parameters as torchvision's (its extra
    # adaptive pool has none), so they are checked against it too.
    "vgg11": "vgg11",
    "vgg16": "vgg16",
}

# Hand-computed parameter counts of the chapter models (all buffers are 0).
# conv: out*in*k*k + out, linear: in*out + out.
EXPECTED_PARAMS = {
    # LeNet, 1x28x28, 10 classes:
    #   conv1 6*1*25+6 = 156, conv2 16*6*25+16 = 2416,
    #   fc1 16*5*5*120+120 = 48120, fc2 120*84+84 = 10164, fc3 84*10+10 = 850
    #   total 61706
    "lenet": 61706,
    # AlexNet (chapter), 3x224x224, 1000 classes:
    #   conv1 96*3*121+96 = 34944, conv2 256*96*25+256 = 614656,
    #   conv3 384*256*9+384 = 885120, conv4 384*384*9+384 = 1327488,
    #   conv5 256*384*9+256 = 884992,
    #   fc1 256*5*5*4096+4096 = 26218496, fc2 4096*4096+4096 = 16781312,
    #   fc3 4096*1000+1000 = 4097000
    #   total 50844008
    "alexnet": 50844008,
    # VGG-11: convs 3*64*9+64 = 1792, 64*128*9+128 = 73856, 128*256*9+256 = 295168,
    #   256*256*9+256 = 590080, 256*512*9+512 = 1180160, 3 x (512*512*9+512 = 2359808)
    #   -> 9220480; head 25088*4096+4096 = 102764544, 16781312, 4097000
    #   -> 123642856; total 132863336 (= torchvision vgg11)
    "vgg11": 132863336,
    # VGG-16: convs 1792 + 64*64*9+64 = 36928 + 73856 + 128*128*9+128 = 147584
    #   + 295168 + 2*590080 + 1180160 + 2*2359808 + 3*2359808 = 14714688;
    #   head 123642856; total 138357544 (= torchvision vgg16)
    "vgg16": 138357544,
    # NiN, 3x224x224, 1000 classes (block = kxk conv + two 1x1 convs):
    #   nin(96,k11):  96*3*121+96 = 34944   + 2*(96*96+96 = 9312)         = 53568
    #   nin(256,k5):  256*96*25+256 = 614656 + 2*(256*256+256 = 65792)    = 746240
    #   nin(384,k3):  384*256*9+384 = 885120 + 2*(384*384+384 = 147840)   = 1180800
    #   nin(1000,k3): 1000*384*9+1000 = 3457000 + 2*(1000*1000+1000)      = 5459000
    #   total 7439608
    "nin": 7439608,
    # GoogLeNet (chapter), 3x224x224, 1000 classes. An Inception block has
    #   in*c1+c1 + in*c2a+c2a + c2a*c2b*9+c2b + in*c3a+c3a + c3a*c3b*25+c3b + in*c4+c4
    #   b1: 64*3*49+64 = 9472
    #   b2: 64*64+64 + 192*64*9+192 = 4160 + 110784 = 114944
    #   3a 163696, 3b 388736
    #   4a 376176, 4b 449160, 4c 510104, 4d 605376, 4e 868352
    #   5a 1043456, 5b 1444080
    #   fc 1024*1000+1000 = 1025000
    #   total 6998552
    "googlenet": 6998552,
}

# The chapter's own configurations (1 input channel, 10 classes).
# AlexNet: 50844008 - (96*3*121 - 96*1*121 = 23232) - (4097000 - 40970 = 4056030) = 46764746
# NiN:     30336 + 746240 + 1180800 + (10*384*9+10 + 2*(10*10+10) = 34790) = 1992166
# GoogLeNet: 6998552 - (64*3*49 - 64*1*49 = 6272) - (1025000 - 10250 = 1014750) = 5977530
CHAPTER_CONFIGS = [
    # (builder, input shape, expected params)
    (alexnet, (1, 224, 224), 46764746),
    (nin, (1, 224, 224), 1992166),
    (googlenet, (1, 96, 96), 5977530),
]


def count(tensors):
    return sum(t.numel() for t in tensors)


def load_torchvision_counts():
    with open(TORCHVISION_JSON) as f:
        return json.load(f)["models"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape(name):
    builder, shape = MODELS[name]
    model = builder()
    assert not model.training
    with torch.no_grad():
        y = model(torch.zeros(2, *shape))
    classes = 10 if name == "lenet" else 1000
    assert tuple(y.shape) == (2, classes)


@pytest.mark.parametrize("name", sorted(TORCHVISION_NAME))
def test_counts_match_torchvision(name):
    expected = load_torchvision_counts()[TORCHVISION_NAME[name]]
    model = MODELS[name][0]()
    assert count(model.parameters()) == expected["params"]
    assert count(model.buffers()) == expected["buffers"]


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_chapter_counts(name):
    model = MODELS[name][0]()
    assert count(model.parameters()) == EXPECTED_PARAMS[name]
    assert count(model.buffers()) == 0


@pytest.mark.parametrize("builder, shape, params", CHAPTER_CONFIGS)
def test_chapter_configs(builder, shape, params):
    model = builder(in_channels=1, classes=10)
    assert count(model.parameters()) == params
    with torch.no_grad():
        y = model(torch.zeros(2, *shape))
    assert tuple(y.shape) == (2, 10)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registration_follows_forward_order(name):
    """Modules holding parameters/buffers are registered in the order forward calls them."""
    builder, shape = MODELS[name]
    model = builder()
    registered = [m for m in model.modules()
                  if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False))]
    called = []

    def hook(module, inputs, output):
        if module not in called:
            called.append(module)

    handles = [m.register_forward_hook(hook) for m in registered]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    assert [id(m) for m in called] == [id(m) for m in registered]
