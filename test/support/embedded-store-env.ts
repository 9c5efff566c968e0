// jest's "embedded store" project (jest.config.js): startTestTable() opens the embedded store.
process.env.LLM_BATCH_TEST_STORE = 'embedded';
