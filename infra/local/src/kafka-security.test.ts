/** The ACLs of a region's Kafka are exactly what its and its peers' clients need (docs/security.md), and no more. */
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { regionAcls } from './kafka-security.ts';

/** kafkajs's constants are plain objects (name → number): the name of a number. */
const label = (table: object, value: number): string => Object.entries(table).find(([, v]) => v === value)?.[0] ?? String(value);
const name = (e: ReturnType<typeof regionAcls>[number]): string =>
  `${e.principal} ${label(kafkajs.AclOperationTypes, e.operation)} ${label(kafkajs.AclResourceTypes, e.resourceType)}:${label(kafkajs.ResourcePatternTypes, e.resourcePatternType)}:${e.resourceName}`;

describe('regionAcls', () => {
  it('lets the owner create, write and read its topic, each peer read it, and every region use only its own groups', () => {
    const acls = regionAcls('eu', new Map([['eu', 'region-eu'], ['us', 'region-us'], ['ap', 'region-ap']]));
    expect(acls.map(name).sort()).toEqual([
      'User:region-ap DELETE GROUP:PREFIXED:meridian.ap.',
      'User:region-ap READ GROUP:PREFIXED:meridian.ap.',
      'User:region-ap READ TOPIC:LITERAL:meridian.eu.updates',
      'User:region-eu CREATE TOPIC:LITERAL:meridian.eu.updates',
      'User:region-eu DELETE GROUP:PREFIXED:meridian.eu.',
      'User:region-eu READ GROUP:PREFIXED:meridian.eu.',
      'User:region-eu READ TOPIC:LITERAL:meridian.eu.updates',
      'User:region-eu WRITE TOPIC:LITERAL:meridian.eu.updates',
      'User:region-us DELETE GROUP:PREFIXED:meridian.us.',
      'User:region-us READ GROUP:PREFIXED:meridian.us.',
      'User:region-us READ TOPIC:LITERAL:meridian.eu.updates',
    ].sort());
    expect(acls.every((e) => e.host === '*')).toBe(true);
  });
});
