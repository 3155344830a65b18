import * as assert from 'node:assert/strict';
import { PushError, planPush, pushExperimentImage } from '../../../../src/core/push/push';
import { MODEL_LABELS } from '../../../../src/core/model/card';
import { MODEL_RUN, modelImage, modelImageLabels } from '../../../helpers/modelImage';
import { FakeEngine } from '../../fakes/engine';

const registry = { host: '127.0.0.1:5000', namespace: 'team' };
const plan = (ref: string, image = modelImage(), allowDirty = false) => planPush({ ref, image, registry, latest: false, allowDirty });

describe('mlc push of a model image', () => {
  it('pushes a model under its run id, the tag `mlc model save` gave it, not its commit', () => {
    const p = plan(`digits-model:${MODEL_RUN}`);
    assert.equal(p.repository, '127.0.0.1:5000/team/digits-model');
    assert.deepEqual(p.tags, [MODEL_RUN]);
    assert.deepEqual(p.notes, []);
  });

  it('gives two sweep points of one commit two tags, so neither push takes the other’s name', () => {
    const other = '20261205-095900-ab12-1';
    const a = plan(`digits-model:${MODEL_RUN}`);
    const b = plan(`digits-model:${other}`, modelImage({ labels: modelImageLabels({ id: other }), repoTags: [`digits-model:${other}`] }));
    assert.deepEqual([a.tags, b.tags], [[MODEL_RUN], [other]]);
  });

  it('pushes an alias (digits-model:champion) under the run id too', () => {
    assert.deepEqual(plan('digits-model:champion', modelImage({ repoTags: [`digits-model:${MODEL_RUN}`, 'digits-model:champion'] })).tags, [
      MODEL_RUN,
    ]);
  });

  it('refuses a model trained from uncommitted changes unless --allow-dirty, saying how to make a clean one', () => {
    const dirty = modelImage({ labels: modelImageLabels({ dirty: true }) });
    assert.equal(dirty.labels[MODEL_LABELS.dirty], 'true');
    assert.throws(
      () => plan(`digits-model:${MODEL_RUN}`, dirty),
      (e: unknown) =>
        e instanceof PushError &&
        e.reason === 'dirty' &&
        /^Model digits-model:\S+ was trained from uncommitted changes .*run again and save that run's model — or pass --allow-dirty/.test(
          e.message,
        ),
    );
    const p = plan(`digits-model:${MODEL_RUN}`, dirty, true);
    assert.deepEqual(p.tags, [MODEL_RUN]);
    assert.match(p.notes.join('\n'), /trained from uncommitted changes \(--allow-dirty\)/);
  });

  it('tags and pushes <registry>/<name>:<run id> through the engine', async () => {
    const engine = new FakeEngine();
    engine.images.set(`digits-model:${MODEL_RUN}`, modelImage());
    const pushed = await pushExperimentImage({
      engine,
      ref: `digits-model:${MODEL_RUN}`,
      registry,
      latest: false,
      allowDirty: false,
      credentials: async () => ({ auth: undefined, source: 'none' }),
    });
    assert.deepEqual(
      engine.calls.filter((c) => !c.startsWith('inspect')),
      [
        `tagImage ${modelImage().id} 127.0.0.1:5000/team/digits-model:${MODEL_RUN}`,
        `pushImage 127.0.0.1:5000/team/digits-model:${MODEL_RUN}`,
      ],
    );
    assert.match(pushed[0]!.reference, new RegExp(`^127\\.0\\.0\\.1:5000/team/digits-model:${MODEL_RUN}@sha256:[0-9a-f]{64}$`));
  });
});
