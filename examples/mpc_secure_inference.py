"""The seed article's CrypTen secure-inference snippet, ported by changing the import.

Server (party 0) owns the model, client (party 1) owns the input; only the client sees the result.
Run in one process:            python examples/mpc_secure_inference.py
Run as 3 processes over TCP:   quorum mpc run -n 3 examples/mpc_secure_inference.py
Uses PyTorch when installed (pip install 'quorum-suite[ml]'), else the same layer from numpy.
Then the anchors' digits MLP (64-128-64-10) classifies 100 test images for the client.
"""

from pathlib import Path

import numpy as np

import mpc_ml as crypten

crypten.init()

try:
    import torch

    torch.manual_seed(0)
    # Server: encrypt the model
    model = torch.nn.Linear(10, 3)  # Simple model
    encrypted_model = crypten.nn.from_pytorch(model, dummy_input=torch.zeros(1, 10))
    client_data = torch.randn(1, 10)
except ImportError:  # same computation without PyTorch
    rng = np.random.default_rng(0)
    encrypted_model = crypten.nn.Linear(10, 3, weight=rng.standard_normal((3, 10)) / 3, bias=rng.standard_normal(3))
    client_data = rng.standard_normal((1, 10))
encrypted_model.encrypt(src=0)  # Server is party 0

# Client: encrypt the input
encrypted_input = crypten.cryptensor(client_data, src=1)  # Client is party 1

# Secure inference: neither party sees the other's data
encrypted_output = encrypted_model(encrypted_input)

# Decrypt result (revealed to client only)
result = encrypted_output.get_plain_text(dst=1)
if result is not None:
    print(f"Prediction: {result}")

# A real model: the digits MLP, 100 client images, labels revealed to the client only
w = np.load(Path(__file__).parent / "models" / "mlp_digits.npz")
nn = crypten.nn
mlp = nn.Sequential(nn.Linear(64, 128, w["0_weight"], w["0_bias"]), nn.ReLU(),
                    nn.Linear(128, 64, w["2_weight"], w["2_bias"]), nn.ReLU(),
                    nn.Linear(64, 10, w["4_weight"], w["4_bias"])).encrypt(src=0)
try:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images, labels = (X / 16.0)[w["test_idx"][:100]], y[w["test_idx"][:100]]
except ImportError:
    images, labels = np.random.default_rng(1).uniform(0, 1, (100, 64)), None
pred = mlp(crypten.cryptensor(images, src=1)).argmax(1, one_hot=False).get_plain_text(dst=1)
if pred is not None:
    print("digits predicted:", pred[:20].astype(int).tolist(), "...")
    if labels is not None:
        print(f"accuracy on 100 test images: {(pred == labels).mean():.2f}")
