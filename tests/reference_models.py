"""Hand-written PyTorch reference models, used as test oracles for cnndsl.

Nothing here imports cnndsl.  Every builder returns an ``nn.Module`` already
switched to ``eval()`` mode (dropout off, batch norm using running stats).

Two families:

* The chapter models (LeNet, AlexNet, VGG, NiN, GoogLeNet) follow the
  *Dive into Deep Learning* PyTorch code (d2l.ai, sections 6.6 and 7.1-7.4).
* ``resnet18``, ``resnet50`` and the ``zoo_*`` builders copy torchvision
  0.29.1 (torchvision/models/{resnet,alexnet,vgg,googlenet}.py): same layers,
  same attribute names, so their ``state_dict`` keys and shapes are the same
  as torchvision's.  Differences that do not change the computation:
  no weight-init code, no in-place ReLU / in-place add.

Parameters are registered in forward (graph) order everywhere.
"""

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# LeNet (d2l 7.6), input 1x28x28
# ---------------------------------------------------------------------------

def lenet(in_channels=1, classes=10):
    model = nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),   # 6x28x28
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),                 # 6x14x14
        nn.Conv2d(6, 16, kernel_size=5),                       # 16x10x10
        nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),                 # 16x5x5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, classes),
    )
    return model.eval()


class LeNetStaged(nn.Module):
    """The book's LeNet laid out as torchvision lays out AlexNet and VGG: a
    ``features`` and a ``classifier`` nn.Sequential, called from forward.

    The layers and their order are ``lenet``'s; the names are those of
    specs/lenet.cnn's two stages (``features.conv_1.weight``...), so this is
    what a person writes by hand from that spec: bench_compile.py's
    like-for-like baseline for the compiled LeNet (``lenet``, flat, is the
    book's code, timed as a row of its own).
    """

    def __init__(self, in_channels=1, classes=10):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            conv_1=nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),  # 6x28x28
            sigmoid_1=nn.Sigmoid(),
            avgpool_1=nn.AvgPool2d(kernel_size=2, stride=2),             # 6x14x14
            conv_2=nn.Conv2d(6, 16, kernel_size=5),                      # 16x10x10
            sigmoid_2=nn.Sigmoid(),
            avgpool_2=nn.AvgPool2d(kernel_size=2, stride=2),             # 16x5x5
        ))
        self.classifier = nn.Sequential(OrderedDict(
            flatten_1=nn.Flatten(),
            linear_1=nn.Linear(16 * 5 * 5, 120),
            sigmoid_1=nn.Sigmoid(),
            linear_2=nn.Linear(120, 84),
            sigmoid_2=nn.Sigmoid(),
            linear_3=nn.Linear(84, classes),
        ))

    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return x


def lenet_staged(in_channels=1, classes=10):
    return LeNetStaged(in_channels, classes).eval()


# ---------------------------------------------------------------------------
# AlexNet, the chapter's version (d2l 8.1), input 224x224
# ---------------------------------------------------------------------------

def alexnet(in_channels=3, classes=1000):
    model = nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1),  # 96x54x54
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),                             # 96x26x26
        nn.Conv2d(96, 256, kernel_size=5, padding=2),                      # 256x26x26
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),                             # 256x12x12
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),                             # 256x5x5
        nn.Flatten(),
        nn.Linear(256 * 5 * 5, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, classes),
    )
    return model.eval()


# ---------------------------------------------------------------------------
# VGG (d2l 8.2), input 224x224
# ---------------------------------------------------------------------------

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
VGG16_ARCH = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def vgg_block(num_convs, in_channels, out_channels):
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(conv_arch, in_channels=3, classes=1000):
    blocks = []
    for num_convs, out_channels in conv_arch:
        blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    # Five halvings: 224 -> 7.
    model = nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(in_channels * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, classes),
    )
    return model.eval()


def vgg11(in_channels=3, classes=1000):
    return vgg(VGG11_ARCH, in_channels, classes)


def vgg16(in_channels=3, classes=1000):
    return vgg(VGG16_ARCH, in_channels, classes)


# ---------------------------------------------------------------------------
# NiN (d2l 8.3), input 224x224
# ---------------------------------------------------------------------------

def nin_block(in_channels, out_channels, kernel_size, stride, padding):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )


def nin(in_channels=3, classes=1000):
    model = nn.Sequential(
        nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0),  # 96x54x54
        nn.MaxPool2d(kernel_size=3, stride=2),                            # 96x26x26
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),           # 256x26x26
        nn.MaxPool2d(kernel_size=3, stride=2),                            # 256x12x12
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),          # 384x12x12
        nn.MaxPool2d(kernel_size=3, stride=2),                            # 384x5x5
        nn.Dropout(p=0.5),
        nin_block(384, classes, kernel_size=3, stride=1, padding=1),      # classes x5x5
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )
    return model.eval()


# ---------------------------------------------------------------------------
# GoogLeNet (d2l 8.4), 3x224x224 by default, also works at 1x96x96
# ---------------------------------------------------------------------------

class Inception(nn.Module):
    """d2l Inception block: c1, (c2a, c2b), (c3a, c3b), c4; convs have bias."""

    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        # Path 1: 1x1 conv
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        # Path 2: 1x1 conv then 3x3 conv
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        # Path 3: 1x1 conv then 5x5 conv
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        # Path 4: 3x3 max pool then 1x1 conv
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat([p1, p2, p3, p4], dim=1)


def googlenet(in_channels=3, classes=1000):
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b2 = nn.Sequential(
        nn.Conv2d(64, 64, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(64, 192, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),      # -> 256
        Inception(256, 128, (128, 192), (32, 96), 64),    # -> 480
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),     # -> 512
        Inception(512, 160, (112, 224), (24, 64), 64),    # -> 512
        Inception(512, 128, (128, 256), (24, 64), 64),    # -> 512
        Inception(512, 112, (144, 288), (32, 64), 64),    # -> 528
        Inception(528, 256, (160, 320), (32, 128), 128),  # -> 832
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
    b5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),  # -> 832
        Inception(832, 384, (192, 384), (48, 128), 128),  # -> 1024
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )
    model = nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, classes))
    return model.eval()


# ---------------------------------------------------------------------------
# ResNet, torchvision-exact (torchvision/models/resnet.py)
# ---------------------------------------------------------------------------

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample  # runs after the main path in forward

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out = out + identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    # ResNet "v1.5": the stride sits on the 3x3 conv (conv2), not on conv1.
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample  # runs after the main path in forward

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out = out + identity
        out = self.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, layers, classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, classes)

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet18(classes=1000):
    return ResNet(BasicBlock, [2, 2, 2, 2], classes).eval()


def resnet50(classes=1000):
    return ResNet(Bottleneck, [3, 4, 6, 3], classes).eval()


# ---------------------------------------------------------------------------
# torchvision's AlexNet (torchvision/models/alexnet.py)
# ---------------------------------------------------------------------------

class ZooAlexNet(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),   # 64x55x55
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),                   # 64x27x27
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),                   # 192x13x13
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),                   # 256x6x6
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))                  # identity at 224
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),           # dropout comes BEFORE each hidden linear
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, classes),    # no dropout before the last linear
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def zoo_alexnet(classes=1000):
    return ZooAlexNet(classes).eval()


# ---------------------------------------------------------------------------
# torchvision's VGG-16 (torchvision/models/vgg.py, cfg "D", no batch norm)
# ---------------------------------------------------------------------------

ZOO_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                 512, 512, 512, "M", 512, 512, 512, "M"]


class ZooVGG(nn.Module):
    def __init__(self, cfg, classes=1000):
        super().__init__()
        # One flat Sequential, like torchvision's make_layers (keys features.0, features.2, ...).
        layers = []
        in_channels = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
                layers.append(nn.ReLU())
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))                  # identity at 224
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(4096, classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def zoo_vgg16(classes=1000):
    return ZooVGG(ZOO_VGG16_CFG, classes).eval()


# ---------------------------------------------------------------------------
# torchvision's GoogLeNet (torchvision/models/googlenet.py),
# aux_logits=False, transform_input=False
# ---------------------------------------------------------------------------

class BasicConv2d(nn.Module):
    """conv (no bias) + BatchNorm2d(eps=0.001) + relu."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size,
                              stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x)


class ZooInception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            # torchvision uses a 3x3 here although it is called "5x5"
            # (known bug, pytorch/vision#906).
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)
        return torch.cat([branch1, branch2, branch3, branch4], 1)


class ZooGoogLeNet(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)     # 64x112x112
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)               # 64x56x56
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)             # 192x56x56
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)               # 192x28x28

        self.inception3a = ZooInception(192, 64, 96, 128, 16, 32, 32)           # 256x28x28
        self.inception3b = ZooInception(256, 128, 128, 192, 32, 96, 64)         # 480x28x28
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)               # 480x14x14

        self.inception4a = ZooInception(480, 192, 96, 208, 16, 48, 64)          # 512
        self.inception4b = ZooInception(512, 160, 112, 224, 24, 64, 64)         # 512
        self.inception4c = ZooInception(512, 128, 128, 256, 24, 64, 64)         # 512
        self.inception4d = ZooInception(512, 112, 144, 288, 32, 64, 64)         # 528
        self.inception4e = ZooInception(528, 256, 160, 320, 32, 128, 128)       # 832x14x14
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)               # 832x7x7

        self.inception5a = ZooInception(832, 256, 160, 320, 32, 128, 128)       # 832
        self.inception5b = ZooInception(832, 384, 192, 384, 48, 128, 128)       # 1024x7x7

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2)
        self.fc = nn.Linear(1024, classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)

        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)

        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.maxpool4(x)

        x = self.inception5a(x)
        x = self.inception5b(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        return x


def zoo_googlenet(classes=1000):
    return ZooGoogLeNet(classes).eval()


# ---------------------------------------------------------------------------
# Registry: name -> (builder called with no arguments, input shape C, H, W)
# ---------------------------------------------------------------------------

MODELS = {
    "lenet": (lenet, (1, 28, 28)),
    "alexnet": (alexnet, (3, 224, 224)),
    "vgg11": (vgg11, (3, 224, 224)),
    "vgg16": (vgg16, (3, 224, 224)),
    "nin": (nin, (3, 224, 224)),
    "googlenet": (googlenet, (3, 224, 224)),
    "resnet18": (resnet18, (3, 224, 224)),
    "resnet50": (resnet50, (3, 224, 224)),
    "zoo_alexnet": (zoo_alexnet, (3, 224, 224)),
    "zoo_vgg16": (zoo_vgg16, (3, 224, 224)),
    "zoo_googlenet": (zoo_googlenet, (3, 224, 224)),
}
