"""Train a small convolutional autoencoder on a gridstore version with PyTorch.

A complete, runnable training loop: open the store lazily, stream shuffled
batches from two DataLoader workers, train, checkpoint, and report the
reconstruction accuracy on the validation split. Stopped at any step (by
--max-steps here, by a scheduler on a cluster) and run again with the same
--checkpoint, it goes on with exactly the batches it had not yet seen, with
any --workers.

    gridstore generate --num-images 100000 --yes
    python examples/train_autoencoder.py --store datasets --epochs 2 --checkpoint ae.pt
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn
from torch.utils.data import DataLoader

import gridstore

COLOURS = 10  # cell values 0..9


class AutoEncoder(nn.Module):
    """One-hot cells in, per-cell colour logits out, through a small bottleneck."""

    def __init__(self, latent: int = 64) -> None:
        super().__init__()
        self.encode = nn.Sequential(
            nn.Conv2d(COLOURS, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),  # 8x8
            nn.Conv2d(64, latent, 3, stride=2, padding=1),
            nn.ReLU(),  # 4x4
        )
        self.decode = nn.Sequential(
            nn.ConvTranspose2d(latent, 64, 4, stride=2, padding=1),
            nn.ReLU(),  # 8x8
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
            nn.ReLU(),  # 16x16
            nn.Conv2d(32, COLOURS, 3, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(images.long(), COLOURS).permute(0, 3, 1, 2).float()
        return self.decode(self.encode(onehot))


def cell_accuracy(model: nn.Module, loader: DataLoader) -> float:
    """Fraction of cells whose colour the model reconstructs."""
    model.eval()
    right = total = 0
    with torch.no_grad():
        for images in loader:
            right += (model(images).argmax(1) == images.long()).sum().item()
            total += images.numel()
    model.train()
    return right / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="datasets")
    parser.add_argument("--version", default=None, help="default: the latest version")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop (checkpointed) after this many steps"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--checkpoint", default=None, help="resume from and save to this file")
    args = parser.parse_args()

    torch.manual_seed(0)
    version = gridstore.open_store(args.store).version(args.version)
    train, val = version["train"], version["val"]
    print(f"{version.name}: {len(train):,} train / {len(val):,} val images")

    model = AutoEncoder()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    # The batches of train.batches(...) in order, whatever the worker count, with a
    # len() and a state_dict() that says where the stream is.
    loader = train.torch_loader(
        args.batch_size, seed=0, drop_last=True, num_workers=args.workers, timeout=120
    )
    if args.checkpoint and os.path.exists(args.checkpoint):
        saved = torch.load(args.checkpoint)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        loader.load_state_dict(saved["loader"])
        place = saved["loader"]
        print(f"resumed at epoch {place['epoch']} step {place['step']}, {len(loader)} steps to go")
    steps = 0
    for epoch in range(loader.state_dict()["epoch"], args.epochs):
        loader.set_epoch(epoch)  # a resumed epoch keeps its place
        for images in loader:
            loss = loss_fn(model(images), images.long())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step, steps = loader.state_dict()["step"], steps + 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}: loss {loss.item():.4f}")
            if args.max_steps is not None and steps >= args.max_steps:
                break
        if args.checkpoint:
            state = {"model": model.state_dict(), "optimiser": optimiser.state_dict()}
            torch.save({**state, "loader": loader.state_dict()}, args.checkpoint)
        if args.max_steps is not None and steps >= args.max_steps:
            print(f"stopped at epoch {epoch} step {loader.state_dict()['step']}")
            return
        val_loader = DataLoader(val.torch_iterable(1024, shuffle=False), batch_size=None)
        print(f"epoch {epoch}: validation cell accuracy {cell_accuracy(model, val_loader):.4f}")


if __name__ == "__main__":
    main()
