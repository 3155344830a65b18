import * as assert from 'node:assert/strict';
import { credentialHost, pulledImages } from '../../../../src/core/build/pulledImages';

describe('images a Dockerfile pulls (for registry credentials)', () => {
  it('substitutes build args over ARG defaults, and skips stages and scratch', () => {
    const dockerfile = [
      '# syntax=docker/dockerfile:1.7',
      'ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime',
      'ARG REGISTRY=registry.cern.ch',
      'FROM --platform=linux/amd64 ${BASE_IMAGE} AS base',
      'FROM $REGISTRY/atlas/analysisbase:25.2.30 as atlas',
      'FROM base',
      'COPY --from=atlas /opt /opt',
      'COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /bin/uv',
      'RUN --mount=type=bind,from=quay.io/lab/data:1,target=/d \\',
      '    ls /d',
      'FROM scratch',
    ].join('\n');
    assert.deepEqual(pulledImages(dockerfile, { BASE_IMAGE: 'gitlab-registry.cern.ch/lab/torch:2' }), [
      'docker/dockerfile:1.7',
      'gitlab-registry.cern.ch/lab/torch:2',
      'registry.cern.ch/atlas/analysisbase:25.2.30',
      'ghcr.io/astral-sh/uv:0.5',
      'quay.io/lab/data:1',
    ]);
  });

  it('names the one registry credentials may go to, or all of them when there are several', () => {
    assert.deepEqual(credentialHost(['gitlab-registry.cern.ch/lab/torch:2', 'gitlab-registry.cern.ch/lab/data:1']), {
      host: 'gitlab-registry.cern.ch',
    });
    assert.deepEqual(credentialHost(['pytorch/pytorch:2.5.1', 'library/debian']), { host: 'docker.io' });
    assert.deepEqual(credentialHost(['localhost:5000/base', 'debian:bookworm']), { hosts: ['localhost:5000', 'docker.io'] });
    assert.equal(credentialHost([]), undefined);
  });
});
