"""A stand-in for scripts/train.py in the control room's job tests: parses
the same flags it is given, writes a run directory's files, and ends like
the real script (exit 0, 2 with an error line, 130 after SIGTERM);
FAKE_ROUND_SECONDS is the time a round takes."""

import json
import os
import signal
import sys
import time

args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if '=' in a)
workdir = args['--workdir'[2:]]
rounds = int(args.get('config.rounds', 5))
if args.get('config.seed') == '13':
  print('error: config.seed=13 is unlucky', file=sys.stderr)
  sys.exit(2)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
os.makedirs(workdir, exist_ok=True)
# Atomically, as the real script does (runlog.write_json_atomic, not imported
# here to keep jax out): the control room reads it meanwhile.
with open(os.path.join(workdir, 'config.json.tmp'), 'w') as f:
  json.dump({'rounds': rounds, 'seed': int(args.get('config.seed', 0))}, f)
os.replace(os.path.join(workdir, 'config.json.tmp'), os.path.join(workdir, 'config.json'))
start = 0
if '--resume' in sys.argv and os.path.exists(os.path.join(workdir, 'client_norms.jsonl')):
  start = sum(1 for _ in open(os.path.join(workdir, 'client_norms.jsonl')))
print('argv', json.dumps(sys.argv[1:]), flush=True)
for r in range(start + 1, rounds + 1):
  time.sleep(float(os.environ.get('FAKE_ROUND_SECONDS', '0.05')))
  with open(os.path.join(workdir, 'client_norms.jsonl'), 'a') as f:
    f.write(json.dumps({'round': r, 'clients': [0, 1], 'norms': [1., 2.],
                        'train_loss': [0.5, None]}) + '\n')
  with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as f:
    f.write(json.dumps({'round': r, 'time': time.time(), 'test_accuracy': r / 10,
                        'test_loss': 1 / r, 'rounds_per_sec': 2.}) + '\n')
  if stop and r < rounds:
    print(f'interrupted after round {r} ({len(stop)} stop signal(s)); continue with --resume',
          file=sys.stderr)
    sys.exit(130)
