// Frame classification lives in lib/hj212/classify.ts beside the codec (the cloud classifies upstream frames too); re-exported here.
export * from '../../lib/hj212/classify.ts';
