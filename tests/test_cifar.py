"""The CIFAR-10 subsets as a data set: splits, labels and class names."""
import numpy as np
import torch

from conftest import CIFAR_CLASSES
from data import load_split


def test_cifar10_splits_keep_shapes_labels_and_class_names(data_root):
    arrays = np.load(data_root / "cifar10/cifar10_test_subset.npz")
    test = load_split("cifar10", data_root, "test", size=32, channels=3)
    assert test.images.shape == (40, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.class_names == CIFAR_CLASSES
    assert test.labels.tolist() == arrays["labels"].tolist()
    assert torch.equal(test.images.permute(0, 2, 3, 1), torch.from_numpy(arrays["images"]))  # 32 px: untouched
    # Every image's label matches what it shows (the red channel is 20 x class in the fake data).
    assert torch.equal(test.images[:, 0, 0, 0].long(), 20 * test.labels)


def test_cifar10_val_is_a_tenth_of_each_class_of_train_and_never_in_train(data_root):
    train = load_split("cifar10", data_root, "train", size=32, channels=3)
    val = load_split("cifar10", data_root, "val", size=32, channels=3)
    assert len(train) + len(val) == 200
    assert torch.bincount(val.labels, minlength=10).tolist() == [2] * 10  # stratified, 10% of 20 a class
    assert not set(train.files) & set(val.files)
    assert torch.equal(train.images[:, 0, 0, 0].long(), 20 * train.labels)
    assert torch.equal(val.images[:, 0, 0, 0].long(), 20 * val.labels)
    again = load_split("cifar10", data_root, "val", size=32, channels=3)
    assert again.files == val.files  # a fixed seed: the protocol, not a training choice


def test_cifar10_at_another_size_and_in_gray(data_root):
    split = load_split("cifar10", data_root, "val", size=48, channels=1)
    assert split.images.shape == (20, 1, 48, 48)
