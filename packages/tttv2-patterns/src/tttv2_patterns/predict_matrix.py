"""PREDICTED decode speed of every installed family config on every catalog device (the nightly matrix).

    python -m tttv2_patterns.predict_matrix [--device T3K ...]

A config or device where the model does not build or fit prints why instead of a number.
"""

from __future__ import annotations

import argparse

from tttv2_hwconfig import list_devices

from tttv2_patterns.model_families import installed_families
from tttv2_patterns.predict import predict_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", choices=list_devices(), help="default: every device")
    args = parser.parse_args(argv)
    devices = args.device or list_devices()
    print(f"{'family':<18} {'config':<16} {'device':<7} {'PREDICTED t/s/u':>15} {'traced':>8} {'TTFT ms':>8}")
    for family in installed_families():
        for name, path in family.configs().items():
            for device in devices:
                try:
                    r = predict_model(path, device)
                except (ValueError, RuntimeError) as error:
                    print(
                        f"{family.architecture:<18} {name:<16} {device:<7} does not run: {str(error)[:120]}"
                    )
                    continue
                print(
                    f"{family.architecture:<18} {name:<16} {device:<7} {r.tokens_per_s_per_user:>15.1f} "
                    f"{r.tokens_per_s_per_user_traced:>8.1f} {r.ttft_s * 1e3:>8.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
