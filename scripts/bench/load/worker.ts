// The worker thread of loadInWorker (http-load.ts): runs the job it is given, posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { type LoadJob, load } from './http-load.ts';

parentPort?.postMessage(await load(workerData as LoadJob));
