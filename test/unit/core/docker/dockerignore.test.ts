import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore from '@balena/dockerignore';
import { nameCouldMatch, scanContext } from '../../../../src/core/docker/buildContext';
import { DockerignorePatternError, compileGlob, dockerignoreMatcher } from '../../../../src/core/docker/dockerignore';
import { writeFixture } from '../../../fixtures/contextCases';

// 40 characters that almost match: every `*` of the pattern has 40 places to try in a backtracking engine.
const NAME = `${'a'.repeat(39)}b`;

describe('.dockerignore matching', () => {
  it('answers as @balena/dockerignore (moby 19.03) does for every glob the docker CLI documents', () => {
    const patterns = [
      '*',
      '*.pyc',
      '**/*.pyc',
      '**/__pycache__',
      'data/',
      '/rooted',
      './dotted',
      'src/../tmp',
      'a**/b',
      'x/*/c',
      'x/**',
      '**',
      'q?z',
      '[ab]c',
      '[^ab]c',
      '[a-c]*',
      'foo\\*',
      '\\#hash',
      '\\!bang',
      'a\\[1]',
      '**/deep/**',
      'n*/m*',
      '*/*',
      '***',
      'a***b',
      'x/**/y',
      'Dockerfile.*',
      '.git',
      'logs',
      'a$b',
      'a.b',
      '*a*a*',
      'é*',
      '?',
      '*/',
      'x//y',
    ];
    const names = [
      'a',
      'b',
      'ab',
      'ac',
      'bc',
      'dc',
      'c',
      'foo*',
      'fooz',
      'x',
      'y',
      'data',
      'deep',
      'rooted',
      'dotted',
      'tmp',
      'qaz',
      'q',
      'z',
      'm',
      'n1',
      'x.pyc',
      '__pycache__',
      '.git',
      'logs',
      'a$b',
      'a.b',
      'axb',
      'aab',
      'aaab',
      'é1',
      '#hash',
      '!bang',
      'a[1]',
      'a1',
      'Dockerfile.gpu',
    ];
    const paths = [
      ...names,
      ...names.flatMap((n) => ['x', 'a', 'deep', 'n1', 'data'].map((d) => `${d}/${n}`)),
      ...names.map((n) => `x/deep/a/${n}`),
    ];
    for (const set of [...patterns.map((p) => [p]), patterns, ['*', '!x/*', 'x/a', '!**/deep/**']]) {
      const theirs = ignore({ ignorecase: false }).add(set);
      const ours = dockerignoreMatcher(set);
      for (const p of paths) assert.equal(ours.ignores(p), theirs.ignores(p), `${JSON.stringify(set)}: ${p}`);
    }
  });

  it('reads +(){}| as themselves, as the docker CLI does today (moby/patternmatcher escapes them)', () => {
    assert.equal(dockerignoreMatcher(['a+b']).ignores('a+b'), true);
    assert.equal(dockerignoreMatcher(['a+b']).ignores('aab'), false);
    assert.equal(dockerignoreMatcher(['(x|y)']).ignores('x'), false);
    assert.equal(dockerignoreMatcher(['(x|y)']).ignores('(x|y)'), true);
  });

  it('refuses a [ without its ], as the docker CLI does, and says how to write it', () => {
    assert.throws(
      () => dockerignoreMatcher(['data[1']),
      (e: unknown) => e instanceof DockerignorePatternError && /\\\[/.test(e.message),
    );
  });

  it('matches many-star patterns against a long name without backtracking', () => {
    // A backtracking regular expression takes 36 s over this (the test's timeout is 10 s).
    assert.equal(compileGlob('*a*a*a*a*a*a*a*a*a*a*a').test(NAME), false);
    assert.equal(compileGlob('*a*a*a*a*a*a*a*a*a*a*b').test(NAME), true);
    assert.equal(compileGlob('***********').test(NAME), true);
    assert.equal(nameCouldMatch(['*a*a*a*a*a*a*a*a*a*a*a'])(NAME), false);
    assert.equal(dockerignoreMatcher(['**/*a*a*a*a*a*a*a*a*a*a*a']).ignores(`x/${NAME}`), false);
  });

  it('scans a context whose .dockerignore has such a pattern', async () => {
    const root = writeFixture({
      name: 'x',
      files: { Dockerfile: 'FROM x\n', '.dockerignore': '*a*a*a*a*a*a*a*a*a*a*a\n', [NAME]: '1', [NAME.slice(0, -1)]: '2', aaaa: '3' },
      expected: [],
    });
    const scan = await scanContext(root, 'Dockerfile');
    assert.deepEqual(scan.entries.map((e) => e.path).sort(), ['.dockerignore', 'Dockerfile', NAME, 'aaaa'].sort());
    fs.rmSync(path.join(root), { recursive: true });
  });
});
